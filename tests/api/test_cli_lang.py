"""``yizhan --lang zh|en`` (and ``YIZHAN_LANG``): the command line's messages in Chinese or English.

The translations are templates in ``data/messages.toml``; these tests check that every argument rule
of ``geo/checks.py`` and every one-line error of the command line that the catalogue names come out in
Chinese with their values intact, and that English stays the default.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.lang import translate
from geo import checks
from geo.catalog import message_templates
from geo.errors import InputError

runner = CliRunner()
CJK = re.compile("[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")

#: one failing call of every rule in geo/checks.py
RULES: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (checks.check_minutes, ("x",), {"field": "--minutes"}),
    (checks.check_minutes, (float("nan"),), {"field": "--minutes"}),
    (checks.check_minutes, (-3,), {"field": "--minutes"}),
    (checks.check_minutes_list, ([],), {"field": "--minutes"}),
    (checks.check_horizon_minutes, (5,), {"minutes": 15, "field": "--horizon-minutes"}),
    (checks.check_positive, (0,), {"field": "--speed-kph", "unit": "km/h"}),
    (checks.check_positive, (0,), {"field": "--speed-kph"}),
    (checks.check_non_negative, (-1,), {"field": "--snap-meters", "unit": "m"}),
    (checks.check_non_negative, (-1,), {"field": "--snap-meters"}),
    (checks.check_share, (1.5,), {"field": "--target-share"}),
    (checks.check_bbox, ("1,2,3",), {"field": "--clip"}),
    (checks.check_bbox, ("3,2,1,4",), {"field": "--clip"}),
    (checks.check_lang, ("fr",), {"field": "--lang"}),
    (checks.check_choice, ("linear",), {"field": "--decay", "choices": ("gaussian", "none")}),
]


def _message(rule: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    with pytest.raises(InputError) as info:
        rule(*args, **kwargs)
    return info.value.message


@pytest.mark.parametrize(("rule", "args", "kwargs"), RULES, ids=lambda v: getattr(v, "__name__", ""))
def test_every_argument_rule_reads_in_chinese(rule: Callable[..., Any], args: tuple[Any, ...],
                                              kwargs: dict[str, Any]) -> None:
    english = _message(rule, args, kwargs)
    chinese = translate(english, lang="zh")
    assert CJK.search(chinese), english
    assert kwargs["field"] in chinese  # the flag is named in both languages
    assert translate(english, lang="en") == english


def test_whole_number_rule_reads_in_chinese() -> None:
    for kwargs in ({"field": "--add", "minimum": 1}, {"field": "--top", "minimum": 1, "maximum": 50}):
        english = _message(checks.check_count, ("2.5",), kwargs)
        assert CJK.search(translate(english, lang="zh")), english
        english = _message(checks.check_count, (0,), kwargs)
        assert CJK.search(translate(english, lang="zh")), english


def test_templates_keep_their_placeholders() -> None:
    templates = message_templates("zh")
    assert len(templates) > 60
    for english, chinese in templates.items():
        assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(chinese)), english
        assert CJK.search(chinese) or not PLACEHOLDER.sub("", english).strip(" ()"), english


def test_values_are_carried_over_unchanged() -> None:
    message = "--network: file not found: /data/长沙市 walk (2).npz"
    assert translate(message, lang="zh") == "--network：找不到文件 /data/长沙市 walk (2).npz"
    assert translate("something new the catalogue does not know", lang="zh") == (
        "something new the catalogue does not know")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_cli_errors_follow_the_language(how: str, tmp_path: Any) -> None:
    missing = tmp_path / "changsha-walk.npz"
    args = ["coverage", "--network", str(missing), "--stations", "none", "--demand", "x.geojson"]
    if how == "flag":
        zh = runner.invoke(app, ["--lang", "zh", *args])
    else:
        zh = runner.invoke(app, args, env={"YIZHAN_LANG": "zh"})
    assert zh.exit_code == 3  # not found
    line = zh.output.strip()
    assert line == f"错误：--network：找不到文件 {missing}", line
    en = runner.invoke(app, args, env={"YIZHAN_LANG": ""})  # the language does not stick between runs
    assert en.exit_code == 3 and en.output.strip() == f"error: --network: file not found: {missing}"


def test_domain_errors_follow_the_language(tmp_path: Any) -> None:
    bad = tmp_path / "shanghai.txt"
    bad.write_text("not a network", encoding="utf-8")
    out = runner.invoke(app, ["--lang", "zh", "site", "--network", str(bad), "--demand", "x", "--add", "1"])
    assert out.exit_code == 2 and "\n" not in out.output.strip()
    assert out.output.startswith("错误：不支持的路网文件 'shanghai.txt'"), out.output


def test_unknown_language_is_one_line() -> None:
    out = runner.invoke(app, ["--lang", "fr", "db", "status"])
    assert out.exit_code == 2
    assert out.output.strip() == "error: --lang must be one of zh, en, got 'fr'"


CITIES = {
    "shanghai": ("shanghai_le_degn/shanghai_jingan_huangpu_drive.osm", []),
    "changsha": ("changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                 ["--clip", "112.94196,28.18252,112.94899,28.18780"]),
}


@pytest.mark.parametrize("city", sorted(CITIES))
def test_coverage_summary_in_chinese(city: str, tmp_path: Any) -> None:
    """A real run's summary lines follow ``--lang zh``; the figures are the English run's."""
    import numpy as np
    import pandas as pd

    from geo.config import data_dir
    from geo.network import read_network_npz

    osm, clip = CITIES[city]
    npz = tmp_path / "walk.npz"
    built = runner.invoke(app, ["network", "build", "--osm", str(data_dir() / osm), "--out", str(npz), *clip])
    assert built.exit_code == 0, built.output
    net = read_network_npz(npz)
    rng = np.random.default_rng(2)
    pick = rng.choice(net.lon.size, 40)
    pd.DataFrame({"名称": [f"站{i}" for i in range(4)], "经度": net.lon[pick[:4]], "纬度": net.lat[pick[:4]],
                  "状态": "open"}).to_csv(tmp_path / "st.csv", index=False)
    pd.DataFrame({"lon": net.lon[pick], "lat": net.lat[pick]}).to_csv(tmp_path / "d.csv", index=False)
    args = ["coverage", "--network", str(npz), "--stations", str(tmp_path / "st.csv"),
            "--demand", str(tmp_path / "d.csv"), "--minutes", "5,10"]
    en = runner.invoke(app, args, env={"YIZHAN_LANG": ""})
    zh = runner.invoke(app, ["--lang", "zh", *args])
    assert en.exit_code == 0 and zh.exit_code == 0, (en.output, zh.output)
    en_first, zh_first = en.output.splitlines()[0], zh.output.splitlines()[0]
    assert en_first.startswith("walk, 10 min:") and "分钟：站点 4 个" in zh_first, zh_first
    assert re.findall(r"\d+\.\d", en_first) == re.findall(r"\d+\.\d", zh_first)
    assert any(line.startswith("5 分钟内：覆盖") for line in zh.output.splitlines()), zh.output
