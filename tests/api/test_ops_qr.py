"""``yizhan stations qr``: the PNGs decode (OpenCV's QR detector) to each station's public page and the
A4 sheet's text (pypdf) names every station."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from pypdf import PdfReader
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from geo.errors import InputError
from geo.ops.qr import write_station_qr

runner = CliRunner()
NAMES = [
    "南山爱心驿站",
    "科技园工会驿站",
    "蛇口环卫工人休息室",
    "后海快递小哥之家",
    "深大户外劳动者服务站",
    "前海司机之家",
    "西丽零工驿站",
]


def _decode(path: Path) -> str:
    image = cv2.imread(str(path))
    assert image is not None, path
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert points is not None, f"no QR code found in {path.name}"
    return str(text)


def test_stations_qr_cli_pngs_decode_and_pdf_names(
    clean_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = "\n".join(
        f"Q{i},{n},{113.93 + i * 0.003:.4f},{22.53 + i * 0.002:.4f},工会驿站" for i, n in enumerate(NAMES)
    )
    src = tmp_path / "stations.csv"
    src.write_text("编号,名称,经度,纬度,类型\n" + rows + "\n", encoding="utf-8")
    assert runner.invoke(app, ["stations", "import", str(src)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["stations", "list", "--json", "--limit", "50"]).stdout)[
        "stations"
    ]
    ids = {s["name"]: s["station_id"] for s in listed}

    monkeypatch.delenv("YIZHAN_PUBLIC_URL", raising=False)
    missing = runner.invoke(app, ["stations", "qr", "--out", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "YIZHAN_PUBLIC_URL" in missing.stderr

    monkeypatch.setenv("YIZHAN_PUBLIC_URL", "https://yizhan.example.org/")
    out = tmp_path / "qr"
    result = runner.invoke(app, ["stations", "qr", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert len(written["pngs"]) == len(NAMES)
    for name, sid in ids.items():
        assert _decode(out / f"S{sid}.png") == f"https://yizhan.example.org/s/S{sid}", name
    reader = PdfReader(out / "stations_qr.pdf")
    assert len(reader.pages) == 2  # six a page
    assert reader.pages[0].mediabox.width == pytest.approx(595.28, abs=0.5)  # A4
    pdf_text = "".join(p.extract_text() for p in reader.pages)
    for name, sid in ids.items():
        assert name in pdf_text and f"S{sid}" in pdf_text
    assert not list(out.glob("*.tmp"))

    one = runner.invoke(
        app,
        [
            "stations",
            "qr",
            "--out",
            str(tmp_path / "one"),
            "--base-url",
            "http://10.0.0.5:8000",
            "--station",
            str(ids["前海司机之家"]),
        ],
    )
    assert one.exit_code == 0, one.output
    assert (
        _decode(tmp_path / "one" / f"S{ids['前海司机之家']}.png")
        == f"http://10.0.0.5:8000/s/S{ids['前海司机之家']}"
    )


def test_qr_rejects_bad_base_url_and_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        write_station_qr([{"station_id": 1, "name": "x"}], tmp_path, base_url="yizhan.example.org")
    with pytest.raises(InputError):
        write_station_qr([], tmp_path, base_url="https://yizhan.example.org")
