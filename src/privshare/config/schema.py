"""Frozen configuration dataclasses: one per concern, a comment per field.

Nothing here imports torch or any other part of the package but the field rules
(:mod:`privshare.config.rules`): each field's allowed values are declared beside it. A resolved
configuration is plain data: it is saved with every run (``config.toml``) and
loaded back with :func:`privshare.config.loading.config_from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from privshare.config.rules import rule

AUGMENTATIONS = ("translation", "cutout", "color")  # train.augment names (privshare.training.augment)
MODEL_KINDS = ("mlp", "conv")  # model.kind names (privshare.models)
GENERATOR_NORMS = ("none", "batch")  # model.generator_norm names (privshare.models.conv)
# autocast choices of the GAN trainers and the utility classifiers (auto: bf16 where native,
# privshare.hardware); training alone also offers fp64
PRECISIONS = ("fp32", "bf16", "auto")
ACCOUNTANTS = ("rdp", "prv")  # dpsgd.accountant names (opacus.accountants)
METHODS = ("privgan", "gan", "dpgan")  # train.methods names


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

    # mlp (the reference) | conv (stride-2 convolutions; square images)
    kind: str = field(default="mlp", metadata=rule(choices=MODEL_KINDS))
    latent_dim: int = field(default=100, metadata=rule(">= 1"))  # size of z ~ N(0, I)
    # hidden layers of G
    generator_widths: tuple[int, ...] = field(
        default=(512, 512, 1024), metadata=rule(">= 1", example="[512, 512]"))
    # hidden layers of D_i and D_central
    discriminator_widths: tuple[int, ...] = field(
        default=(2048, 512, 256), metadata=rule(">= 1", nonempty=True, example="[512, 256]"))
    # LeakyReLU negative slope
    leaky_slope: float = field(default=0.2, metadata=rule("[0, 1)", example="0.2"))
    # N(0, std) init of each MLP's first layer and of every convolution
    first_layer_std: float = field(default=0.02, metadata=rule("> 0", example="0.02"))
    # conv: D's channels per stride-2 layer (G mirrors them)
    conv_channels: tuple[int, ...] = field(
        default=(32, 64), metadata=rule(">= 1", nonempty=True, example="[32, 64]"))
    # conv G: none | batch (DCGAN's batch normalisation after each hidden layer)
    generator_norm: str = field(default="none", metadata=rule(choices=GENERATOR_NORMS))
    spectral_norm: bool = False  # spectral normalisation of every layer of each local D_i (mlp only; not D_central)
    minibatch_std: int = 0  # D_i (mlp): group size of the minibatch-std logit term against mode collapse (0 = off)
    # D_i (mlp): dropout rate after each hidden layer while training, in [0, 1) (not D_central)
    d_dropout: float = field(default=0.0, metadata=rule("[0, 1)", example="0.3", note="0 = off"))


@dataclass(frozen=True)
class OptimConfig:
    """Adam settings used for every generator and discriminator."""

    lr: float = field(default=2e-4, metadata=rule("> 0", example="2e-4"))  # learning rate
    beta1: float = field(default=0.5, metadata=rule("[0, 1)", example="0.5"))  # first-moment decay
    # second-moment decay
    beta2: float = field(default=0.999, metadata=rule("[0, 1)", example="0.999"))
    # Keras' default epsilon, as in the reference
    eps: float = field(default=1e-7, metadata=rule("> 0", example="1e-7"))


@dataclass(frozen=True)
class TrainConfig:
    """Training loops of privGAN and the local-GAN baseline."""

    # which models a run trains: privgan | gan | dpgan
    methods: tuple[str, ...] = field(
        default=("privgan", "gan"), metadata=rule(choices=METHODS, nonempty=True, distinct=True))
    epochs_privgan: int = field(default=200, metadata=rule(">= 1"))  # paper: 200
    epochs_gan: int = field(default=250, metadata=rule(">= 1"))  # paper: 250
    # rows drawn per owner and class per step (with replacement)
    batch_size: int = field(default=256, metadata=rule(">= 1"))
    steps_per_epoch: str = "largest"  # largest | smallest | <int>: see README "Unequal subsets"
    # lambda: weight of D_central's cross-entropy in each G_i's loss
    privacy_weight: float = field(default=1.0, metadata=rule(">= 0", example="1.0"))
    # one lambda per owner, in data.fractions order, instead of privacy_weight for all
    # (each G_i's loss is its owner's own: an owner can weigh D_central's term as it chooses);
    # privacy_weight must then be their largest, so that it is never silently unused
    owner_privacy_weights: tuple[float, ...] = field(
        default=(), metadata=rule(">= 0", example="[10.0, 0.0]", note="[] = privacy_weight for every owner"))
    # one D_i step interval per owner, in data.fractions order: owner i's D_i takes a step on
    # every k_i-th privGAN step only, the first included (G_i, the other D_j, D_central: every
    # step); a k_i of at least the run's steps gives D_i one step; privGAN only
    owner_d_every: tuple[int, ...] = field(
        default=(), metadata=rule(">= 1", example="[4, 1]", note="[] = every step for every owner"))
    # epochs before D_central starts training (paper: 0; privGAN code: 100)
    central_delay: int = field(default=0, metadata=rule(">= 0"))
    # >0 pre-trains D_central on REAL rows (original privGAN only)
    central_pretrain_epochs: int = field(default=0, metadata=rule(">= 0"))
    # per_owner (federation-ready) | shared (one z for all G_i)
    noise: str = field(default="per_owner", metadata=rule(choices=("per_owner", "shared")))
    # one-sided label smoothing of D_i's real target
    smoothing_privgan: float = field(default=0.95, metadata=rule("(0, 1]", example="0.95"))
    # same for the plain GAN
    smoothing_gan: float = field(default=0.9, metadata=rule("(0, 1]", example="0.9"))
    # D_i's inputs only: translation | cutout | color (DiffAugment; () = none)
    augment: tuple[str, ...] = field(
        default=(), metadata=rule(choices=AUGMENTATIONS, distinct=True, note="[] = none"))
    # moving average of G_i's weights, saved and sampled instead of G_i (0 = off)
    ema_decay: float = field(
        default=0.0, metadata=rule("[0, 1)", example="0.999", note="0 = no moving average"))
    # R1 penalty gamma/2 * E|grad_x D_i(x)|^2 on D_i's real rows (Mescheder 2018; 0 = off)
    r1_gamma: float = field(default=0.0, metadata=rule(">= 0", example="1.0", note="0 = off"))
    # lazy R1 (Karras 2020): the penalty on every k-th D_i step only, weighted k (1 = every step)
    r1_every: int = field(default=1, metadata=rule(">= 1", note="1 = every D_i step"))
    # epochs between checkpoints (0 = only at the end)
    checkpoint_every: int = field(default=10, metadata=rule(">= 0"))
    keep_checkpoints: bool = False  # keep checkpoints/ after a method finishes (they are large)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # fp32 | bf16 (autocast, fp32 master weights) | auto (bf16 if native) | fp64
    precision: str = field(
        default="fp32", metadata=rule(choices=(*PRECISIONS, "fp64"), note="auto = bf16 where the hardware has it, else fp32"))
    tune_allocator: bool = True  # glibc keeps freed memory for reuse (faster CPU steps; RSS stays at its peak)
    compile: bool = False  # torch.compile each network's forward (slower on our CPU; eager if it fails)
    concurrent_methods: bool = False  # train privGAN beside the other methods, one CPU thread each

    def privacy_weight_of(self, owner: int) -> float:
        """Lambda in owner ``owner``'s generator loss: its entry of ``owner_privacy_weights``,
        else ``privacy_weight``."""
        return self.owner_privacy_weights[owner] if self.owner_privacy_weights else self.privacy_weight

    def d_every_of(self, owner: int) -> int:
        """Owner ``owner``'s privGAN D_i steps on every k-th step: its entry of
        ``owner_d_every``, else 1."""
        return self.owner_d_every[owner] if self.owner_d_every else 1


@dataclass(frozen=True)
class DPSGDConfig:
    """DP-SGD of the ``dpgan`` method's discriminators (Abadi et al. 2016), accounted by Opacus."""

    # epsilon each owner's DP-GAN may spend over all its steps; sets the noise
    target_epsilon: float = field(default=10.0, metadata=rule("> 0", example="1 or 10"))
    # delta of the (epsilon, delta) guarantee; must be below 1 / rows of every owner's class
    delta: float = field(
        default=1e-5, metadata=rule("(0, 1)", example="1e-5", note="and below 1 / rows of a class"))
    # C: each real row's gradient over its class's D is clipped to this L2 norm
    max_grad_norm: float = field(
        default=1.0, metadata=rule("> 0", example="1.0", note="the clipping norm C of each real row's gradient"))
    # sigma (noise std / C): > 0 is used as given and epsilon computed; 0 = from target_epsilon
    noise_multiplier: float = field(
        default=0.0, metadata=rule(">= 0", example="1.1", note="0 = derive it from dpsgd.target_epsilon"))
    # rdp (Renyi DP, Mironov 2017) | prv (privacy random variables, Gopi et al. 2021; tighter, slower)
    accountant: str = field(default="rdp", metadata=rule(choices=ACCOUNTANTS))


@dataclass(frozen=True)
class ExportConfig:
    """What a finished run writes for each owner."""

    # labelled synthetic rows per class in each .npz
    samples_per_class: int = field(default=300, metadata=rule(">= 1"))
    # images per class row in the PNG grid
    grid_columns: int = field(
        default=10, metadata=rule(">= 1", example="10", note="images per class row of the PNG grid"))


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
