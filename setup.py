"""Maps each top-level folder to one subpackage of `httprecap` (see PACKAGE_DIRS).

The layout puts the process boundary first (function process, extension process, dev tools),
so the folders are not nested under one package on disk; setuptools' `package_dir` joins them
into the single importable `httprecap` package. Subpackages are discovered here because
`packages.find` cannot follow such a mapping.
"""

from setuptools import find_packages, setup

PACKAGE_DIRS = {
    "httprecap": "core",
    "httprecap.internal": "internal",
    "httprecap.external": "external",
    "httprecap.layer": "layer",
    "httprecap.sandbox": "sandbox",
    "httprecap.view": "view",
    "httprecap.cli": "cli",
    "httprecap.demo": "demo",
    "httprecap.fleet": "fleet",
}


def _packages() -> list[str]:
    found = []
    for package, folder in PACKAGE_DIRS.items():
        found.append(package)
        found += [f"{package}.{sub}" for sub in find_packages(folder)]
    return found


if __name__ == "__main__":
    setup(package_dir=PACKAGE_DIRS, packages=_packages())
