"""The federated trainer needs every owner to hold every class: other splits are refused
before any owner file is written."""

from __future__ import annotations

import pytest

from privshare.config import ConfigError, load_config
from privshare.federated import write_owner_files


def test_an_owner_lacking_a_class_is_refused_before_owner_files_are_written(tmp_path):
    config = load_config(preset="tiny", overrides=[
        "data.fractions=[0.2, 0.3, 0.2]",
        "data.class_shares=[[0.2, 0.2, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"])
    with pytest.raises(ConfigError, match="the federated trainer needs every owner to hold"):
        write_owner_files(config, folder=tmp_path / "owners")
    assert not (tmp_path / "owners").exists()
