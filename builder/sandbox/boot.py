"""How the zygote starts: the sandbox's own modules, loaded from source under neutral file names.

The supervisor starts ``python -s -P -c <a one-line loader> builder-sandbox-zygote`` with its end of the socket as
standard input and sends the configuration (with the package's folder) as the first message; the one-liner runs this
file with ``config`` and ``sock`` set. Nothing on the zygote's command line, and so nothing in a program's
``/proc/self/cmdline`` or ``sys.orig_argv``, names a folder of the host; the modules below are compiled as
``sandbox/<name>.py`` (their tracebacks and code objects name no host folder either). Only ``builder.sandbox.*`` is
served: the zygote never imports the package's ``__init__`` modules (no click, no datasets).
"""

import importlib.abc
import importlib.util
import os

PACKAGES = ("builder", "builder.sandbox")


class SandboxModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, package_root: str) -> None:
        self.package_root = package_root

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name in PACKAGES:
            return importlib.util.spec_from_loader(name, self, is_package=True)
        if name.startswith("builder.sandbox.") and name.count(".") == 2:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return None

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        if module.__name__ in PACKAGES:
            module.__path__ = []
            return
        short = module.__name__.rsplit(".", 1)[1]
        with open(os.path.join(self.package_root, "builder", "sandbox", short + ".py"), encoding="utf-8") as fh:
            source = fh.read()
        exec(compile(source, f"sandbox/{short}.py", "exec"), module.__dict__)


def start(config: dict, sock) -> None:  # type: ignore[no-untyped-def]
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)  # standard input was the socket; the supervisor's end is all we talk to
    os.close(null)
    finder = SandboxModules(str(config["package_root"]))
    import sys

    sys.meta_path.insert(0, finder)
    from builder.sandbox.zygote import main

    main(config, sock)


start(config, sock)  # type: ignore[name-defined]  # noqa: F821 - set by the loader one-liner
