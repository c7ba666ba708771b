"""Price paths: generators are deterministic and shaped as documented; files parse or fail with a location."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import pytest

from fulcrum.build import project_root
from fulcrum.errors import ConfigError
from fulcrum.scenario import PricePath, crash_path, gbm_path, load_path, parse_start

START = {"ETH/USD": 2000.0, "BTC/USD": 30000.0}


def test_gbm_is_deterministic_by_seed_and_shaped() -> None:
    kwargs = dict(steps=50, dt=60.0, vol=0.8, drift=0.1, jump_rate=200.0, jump_mean=-0.02, jump_std=0.03)
    a = gbm_path(START, seed=7, **kwargs)  # type: ignore[arg-type]
    b = gbm_path(START, seed=7, **kwargs)  # type: ignore[arg-type]
    c = gbm_path(START, seed=8, **kwargs)  # type: ignore[arg-type]
    assert a == b
    assert a.prices != c.prices
    assert a.times == [i * 60.0 for i in range(51)]
    assert a.pairs == ["ETH/USD", "BTC/USD"]
    assert all(len(series) == 51 for series in a.prices.values())
    assert a.at(0) == START  # starts exactly at the start prices
    assert all(p > 0 for series in a.prices.values() for p in series)
    assert a.prices["ETH/USD"] != a.prices["BTC/USD"]  # independent draws per pair, not one scaled path


def test_gbm_without_vol_or_jumps_follows_the_drift_exactly() -> None:
    year = 365 * 86_400
    path = gbm_path({"ETH/USD": 100.0}, steps=4, dt=year / 4, vol=0.0, drift=0.2, seed=1)
    assert path.prices["ETH/USD"][-1] == pytest.approx(100.0 * math.exp(0.2), rel=1e-12)


def test_gbm_jumps_move_prices_down_when_their_mean_is_negative() -> None:
    # Jumps every step on average, each about -10%: with no diffusion, the path mostly falls.
    path = gbm_path({"ETH/USD": 1000.0}, steps=20, dt=86_400, vol=0.0, jump_rate=365.0, jump_mean=-0.1,
                    jump_std=0.0, seed=3)  # fmt: skip
    moves = [b / a for a, b in pairwise(path.prices["ETH/USD"])]
    assert sum(m < 1 for m in moves) > len(moves) // 2


def test_gbm_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        gbm_path(START, steps=10, dt=0.0, vol=0.5)
    with pytest.raises(ValueError):
        gbm_path({"ETH/USD": -1.0}, steps=10, dt=1.0, vol=0.5)


def test_crash_lands_exactly_on_the_bottom_and_rebounds_by_the_fraction() -> None:
    path = crash_path(START, drop=0.35, rebound=0.5, steps_down=7, steps_up=3, dt=2.0)
    assert len(path) == 11
    assert path.times == [2.0 * i for i in range(11)]
    for name, p0 in START.items():
        series = path.prices[name]
        assert series[0] == p0
        assert series[7] == p0 * (1 - 0.35)  # exact, not within a tolerance
        assert min(series) == series[7]
        assert series[-1] == pytest.approx(p0 * (1 - 0.35) + 0.5 * 0.35 * p0, rel=1e-12)
        down = [b / a for a, b in pairwise(series[:8])]
        assert all(r == pytest.approx(0.65 ** (1 / 7), rel=1e-12) for r in down)  # equal, bounded steps
        assert all(b > a for a, b in pairwise(series[7:]))
    up = (1 - 0.35 / 2) / (1 - 0.35)  # bottom -> bottom + half the drop, in 3 equal steps
    assert path.max_move() == pytest.approx(up ** (1 / 3) - 1, rel=1e-9)


def test_crash_without_rebound_ends_at_the_bottom() -> None:
    path = crash_path({"ETH/USD": 1000.0}, drop=0.5, rebound=0.0, steps_down=1, steps_up=0, dt=1.0)
    assert path.prices["ETH/USD"] == [1000.0, 500.0]
    with pytest.raises(ValueError):
        crash_path({"ETH/USD": 1000.0}, drop=1.0, rebound=0.0, steps_down=1, steps_up=0, dt=1.0)
    with pytest.raises(ValueError):
        crash_path({"ETH/USD": 1000.0}, drop=0.2, rebound=0.5, steps_down=2, steps_up=0, dt=1.0)


def test_example_files_agree(tmp_path: Path) -> None:
    toml = load_path(project_root() / "deploy" / "scenarios" / "crash.toml")
    csv = load_path(project_root() / "deploy" / "scenarios" / "crash.csv")
    assert toml == csv
    assert toml.pairs == ["ETH/USD", "BTC/USD"]
    assert min(toml.prices["ETH/USD"]) == 2000 * 0.65
    assert toml.times[-1] == 80.0


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_parses_with_comments_and_blank_lines(tmp_path: Path) -> None:
    path = load_path(write(tmp_path, "p.csv", "# comment\nt, ETH/USD\n\n0,2000\n1.5, 1900.5\n"))
    assert path == PricePath([0.0, 1.5], {"ETH/USD": [2000.0, 1900.5]})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("time,ETH/USD\n0,1\n", "p.csv:1: header"),
        ("t,ETH/USD\n0,2000\n1,abc\n", "p.csv:3: ETH/USD: 'abc' is not a number"),
        ("t,ETH/USD\n0,2000\n1,-5\n", "p.csv:3: ETH/USD"),
        ("t,ETH/USD\n0,2000\n1,0\n", "p.csv:3: ETH/USD"),
        ("t,ETH/USD\n0,2000,3\n", "p.csv:2: 3 columns"),
        ("t,ETH/USD\n5,2000\n1,2000\n", "p.csv:3: t = 1 goes back in time"),
        ("t,ETH/USD,ETH/USD\n0,1,1\n", "p.csv:1: pair names must be distinct"),
        ("t,ETH/USD\n", "no steps after the header"),
        ("", "empty scenario"),
        ("t,ETH/USD\n0,nan\n", "p.csv:2: ETH/USD"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_path(write(tmp_path, "p.csv", text))
    assert where in str(info.value)


def test_toml_parses(tmp_path: Path) -> None:
    text = '[[step]]\nt = 0\nprices = { "ETH/USD" = 2000, "BTC/USD" = 30000.5 }\n' \
           '[[step]]\nt = 3\nprices = { "BTC/USD" = 29000, "ETH/USD" = 1900 }\n'  # fmt: skip
    path = load_path(write(tmp_path, "p.toml", text))
    assert path == PricePath([0.0, 3.0], {"ETH/USD": [2000.0, 1900.0], "BTC/USD": [30000.5, 29000.0]})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '[[step]]\nt = 0\nprices = { "ETH/USD" = 2000 \n',
            "p.toml: Unclosed inline table (at line 3",
        ),  # TOML syntax
        ("title = 'x'\n", "expected [[step]] tables"),
        ('[[step]]\nprices = { "ETH/USD" = 1 }\n', "step[0]: missing `t`"),
        ("[[step]]\nt = 0\n", "step[0]: missing `prices`"),
        (
            '[[step]]\nt = 0\nprices = { "ETH/USD" = 1 }\n[[step]]\nt = 1\nprices = { "BTC/USD" = 1 }\n',
            "step[1].prices: every step names the same pairs; missing ['ETH/USD']; unexpected ['BTC/USD']",
        ),
        ('[[step]]\nt = 0\nprices = { "ETH/USD" = "x" }\n', "step[0].prices.'ETH/USD': 'x' is not a number"),
        ('[[step]]\nt = 0\nprices = { "ETH/USD" = true }\n', "step[0].prices.'ETH/USD'"),
        ('[[step]]\nt = -1\nprices = { "ETH/USD" = 1 }\n', "step[0].t"),
        (
            '[[step]]\nt = 2\nprices = { "ETH/USD" = 1 }\n[[step]]\nt = 1\nprices = { "ETH/USD" = 1 }\n',
            "step[1]: t = 1 goes back in time",
        ),
    ],
)
def test_bad_toml_names_file_and_field(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_path(write(tmp_path, "p.toml", text))
    assert where in str(info.value)
    assert "p.toml" in str(info.value)


def test_unreadable_or_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_path(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match=r"\.csv or a \.toml"):
        load_path(write(tmp_path, "p.json", "{}"))


def test_parse_start() -> None:
    assert parse_start("ETH/USD=2000, BTC/USD=30000.5") == {"ETH/USD": 2000.0, "BTC/USD": 30000.5}
    for bad in ("", "ETH/USD", "ETH/USD=abc", "=5", "ETH/USD=-1"):
        with pytest.raises(ConfigError):
            parse_start(bad)


def test_price_path_checks_its_shape() -> None:
    with pytest.raises(ValueError):
        PricePath([0.0, 1.0], {"ETH/USD": [1.0]})
    with pytest.raises(ValueError):
        PricePath([1.0, 0.0], {"ETH/USD": [1.0, 1.0]})
    with pytest.raises(ValueError):
        PricePath([0.0], {"ETH/USD": [0.0]})
