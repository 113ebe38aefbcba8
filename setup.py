"""Build the one compiled part of yizhan: the multi-source Dijkstra behind the coverage pass.

Everything else (metadata, dependencies, packages) is in ``pyproject.toml``.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "geo._dijkstra",
            sources=["geo/_dijkstra.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
