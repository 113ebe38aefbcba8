"""Build the one compiled part of yizhan (the multi-source Dijkstra behind the coverage pass) and ship
the checklists of ``data/`` inside the wheel as ``geo/_data`` (read by :mod:`geo.catalog`).

Everything else (metadata, dependencies, packages) is in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


class BuildWithData(build_py):
    """``build_py`` that also copies ``data/*.toml`` to ``<build>/geo/_data/``."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "geo" / "_data"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(Path("data").glob("*.toml")):
            shutil.copy2(path, target / path.name)


setup(
    cmdclass={"build_py": BuildWithData},
    ext_modules=[
        Extension(
            "geo._dijkstra",
            sources=["geo/_dijkstra.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ],
)
