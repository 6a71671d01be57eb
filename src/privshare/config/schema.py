"""Frozen configuration dataclasses: one per concern, a comment per field.

Nothing here imports torch or any other part of the package. A resolved
configuration is plain data: it is saved with every run (``config.toml``) and
loaded back with :func:`privshare.config.loading.config_from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AUGMENTATIONS = ("translation", "cutout", "color")  # train.augment names (privshare.training.augment)
MODEL_KINDS = ("mlp", "conv")  # model.kind names (privshare.models)
GENERATOR_NORMS = ("none", "batch")  # model.generator_norm names (privshare.models.conv)
# autocast choices of the GAN trainers and the utility classifiers (auto: bf16 where native,
# privshare.hardware); training alone also offers fp64
PRECISIONS = ("fp32", "bf16", "auto")
ACCOUNTANTS = ("rdp", "prv")  # dpsgd.accountant names (opacus.accountants)


def conv_fits(h: int, w: int, layers: int) -> bool:
    """Whether ``layers`` stride-2 convolutions halve an h x w image cleanly down to >= 2x2."""
    return h == w and h % 2 ** layers == 0 and h >= 2 ** (layers + 1)


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to load and how to split it between owners."""

    name: str = "mnist"  # mnist | fashion-mnist | digits | npz | png-folder
    path: str = ""  # file or folder for npz / png-folder / fashion-mnist ("" = default place)
    data_dir: str = ""  # cache folder for downloaded data ("" = $XDG_CACHE_HOME/privshare)
    classes: tuple[int, ...] = ()  # labels to model, one model each (() = every label)
    fractions: tuple[float, ...] = (0.02, 0.20)  # per-owner share of EACH class's train rows
    # owners x classes shares (rows: owners of `fractions`, columns: the run's classes in order;
    # 0 = that owner holds none of the class); () = `fractions` for every class
    class_shares: tuple[tuple[float, ...], ...] = ()
    # > 0: draw each class's shares from Dirichlet(dirichlet * N * fractions / sum(fractions)),
    # scaled to sum(fractions) (README "Owners that are not alike"); 0 = off
    dirichlet: float = 0.0
    min_rows_per_owner: int = 2  # refuse a split that gives an owner fewer rows of a class
    min_nonmembers: int = 1  # refuse a split that leaves fewer non-member rows in a class
    max_train_per_class: int = 0  # cap each class's train rows before splitting (0 = no cap)


@dataclass(frozen=True)
class ModelConfig:
    """The networks: the reference's fully connected ones, or DCGAN-style convolutional ones."""

    kind: str = "mlp"  # mlp (the reference) | conv (stride-2 convolutions; square images)
    latent_dim: int = 100  # size of z ~ N(0, I)
    generator_widths: tuple[int, ...] = (512, 512, 1024)  # hidden layers of G
    discriminator_widths: tuple[int, ...] = (2048, 512, 256)  # hidden layers of D_i and D_central
    leaky_slope: float = 0.2  # LeakyReLU negative slope
    first_layer_std: float = 0.02  # N(0, std) init of each MLP's first layer and of every convolution
    conv_channels: tuple[int, ...] = (32, 64)  # conv: D's channels per stride-2 layer (G mirrors them)
    generator_norm: str = "none"  # conv G: none | batch (DCGAN's batch normalisation after each hidden layer)
    spectral_norm: bool = False  # spectral normalisation of every layer of each local D_i (mlp only; not D_central)
    minibatch_std: int = 0  # D_i (mlp): group size of the minibatch-std logit term against mode collapse (0 = off)
    d_dropout: float = 0.0  # D_i (mlp): dropout rate after each hidden layer while training, in [0, 1) (not D_central)


@dataclass(frozen=True)
class OptimConfig:
    """Adam settings used for every generator and discriminator."""

    lr: float = 2e-4  # learning rate
    beta1: float = 0.5  # first-moment decay
    beta2: float = 0.999  # second-moment decay
    eps: float = 1e-7  # Keras' default epsilon, as in the reference


@dataclass(frozen=True)
class TrainConfig:
    """Training loops of privGAN and the local-GAN baseline."""

    methods: tuple[str, ...] = ("privgan", "gan")  # which models a run trains: privgan | gan | dpgan
    epochs_privgan: int = 200  # paper: 200
    epochs_gan: int = 250  # paper: 250
    batch_size: int = 256  # rows drawn per owner and class per step (with replacement)
    steps_per_epoch: str = "largest"  # largest | smallest | <int>: see README "Unequal subsets"
    privacy_weight: float = 1.0  # lambda: weight of D_central's cross-entropy in each G_i's loss
    central_delay: int = 0  # epochs before D_central starts training (paper: 0; privGAN code: 100)
    central_pretrain_epochs: int = 0  # >0 pre-trains D_central on REAL rows (original privGAN only)
    noise: str = "per_owner"  # per_owner (federation-ready) | shared (one z for all G_i)
    smoothing_privgan: float = 0.95  # one-sided label smoothing of D_i's real target
    smoothing_gan: float = 0.9  # same for the plain GAN
    augment: tuple[str, ...] = ()  # D_i's inputs only: translation | cutout | color (DiffAugment; () = none)
    ema_decay: float = 0.0  # moving average of G_i's weights, saved and sampled instead of G_i (0 = off)
    r1_gamma: float = 0.0  # R1 penalty gamma/2 * E|grad_x D_i(x)|^2 on D_i's real rows (Mescheder 2018; 0 = off)
    r1_every: int = 1  # lazy R1 (Karras 2020): the penalty on every k-th D_i step only, weighted k (1 = every step)
    checkpoint_every: int = 10  # epochs between checkpoints (0 = only at the end)
    keep_checkpoints: bool = False  # keep checkpoints/ after a method finishes (they are large)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast, fp32 master weights) | auto (bf16 if native) | fp64
    tune_allocator: bool = True  # glibc keeps freed memory for reuse (faster CPU steps; RSS stays at its peak)
    compile: bool = False  # torch.compile each network's forward (slower on our CPU; eager if it fails)
    concurrent_methods: bool = False  # train privGAN beside the other methods, one CPU thread each


@dataclass(frozen=True)
class DPSGDConfig:
    """DP-SGD of the ``dpgan`` method's discriminators (Abadi et al. 2016), accounted by Opacus."""

    target_epsilon: float = 10.0  # epsilon each owner's DP-GAN may spend over all its steps; sets the noise
    delta: float = 1e-5  # delta of the (epsilon, delta) guarantee; must be below 1 / rows of every owner's class
    max_grad_norm: float = 1.0  # C: each real row's gradient over its class's D is clipped to this L2 norm
    noise_multiplier: float = 0.0  # sigma (noise std / C): > 0 is used as given and epsilon computed; 0 = from target_epsilon
    accountant: str = "rdp"  # rdp (Renyi DP, Mironov 2017) | prv (privacy random variables, Gopi et al. 2021; tighter, slower)


@dataclass(frozen=True)
class ExportConfig:
    """What a finished run writes for each owner."""

    samples_per_class: int = 300  # labelled synthetic rows per class in each .npz
    grid_columns: int = 10  # images per class row in the PNG grid


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs; ``seed`` seeds every random stream."""

    name: str = "run"  # folder name under out_dir
    out_dir: str = "runs"  # parent folder of run folders
    seed: int = 0  # root seed; owners and stages get SeedSequence.spawn children
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dpsgd: DPSGDConfig = field(default_factory=DPSGDConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
