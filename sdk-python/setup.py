"""Builds the protocol's Python modules from the repository's `.proto` files.

The `.proto` files under `flovyn-protocol/proto` are the contract (docs/process-plugins.md);
the modules `flovyn.plugin.v1.{descriptor,host,plugin}_pb2` (with `.pyi` files for type
checkers) and `plugin_pb2_grpc`/`host_pb2_grpc` are generated into the build, never
committed.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_ROOT = Path(os.environ.get("FLOVYN_PROTO_ROOT", HERE.parent / "flovyn-protocol" / "proto"))
PACKAGE = Path("flovyn") / "plugin" / "v1"


class BuildWithProtocol(build_py):
    def run(self) -> None:
        super().run()
        self.generate(Path(self.build_lib))

    def generate(self, out: Path) -> None:
        import grpc_tools
        from grpc_tools import protoc

        sources = sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))
        if not sources:
            raise SystemExit(
                f"flovyn-plugin: no .proto files under {PROTO_ROOT / PACKAGE}; build the "
                "package from the repository (pip install ./sdk-python) or set FLOVYN_PROTO_ROOT"
            )
        well_known = Path(grpc_tools.__file__).parent / "_proto"
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *(str(s.relative_to(PROTO_ROOT)) for s in sources),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"flovyn-plugin: protoc failed on {', '.join(map(str, sources))}")
        # A namespace package for `flovyn` and `flovyn.plugin`; `v1` is typed.
        (out / PACKAGE / "__init__.py").touch()
        (out / PACKAGE / "py.typed").touch()


setup(cmdclass={"build_py": BuildWithProtocol})
