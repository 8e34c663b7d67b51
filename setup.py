"""Map the design card's top-level folders into the one import namespace ``auraison.*``.

Why a setup.py: pyproject alone cannot say "folder ``sim/`` is package ``auraison.sim``" for
every subpackage; this computes the list so nothing is installed as a top-level ``agents`` or
``agentops`` (PyPI packages of those names exist).
"""

from setuptools import Extension, find_packages, setup

FOLDERS = ("agents", "mcp_servers", "agentops", "lakehouse", "geometry", "sim", "infra", "bench")

package_dir = {"auraison": "auraison"}
packages = ["auraison", *(f"auraison.{p}" for p in find_packages("auraison"))]
for folder in FOLDERS:
    package_dir[f"auraison.{folder}"] = folder
    packages.append(f"auraison.{folder}")
    packages += [f"auraison.{folder}.{p}" for p in find_packages(folder)]

# The trace pipeline's producer side in C (agentops/_spanbuf.c). Optional: where no C compiler
# is found the install goes on without it and ``agentops.tracing`` uses its Python columns.
SPANBUF = Extension(
    "auraison.agentops._spanbuf",
    ["agentops/_spanbuf.c"],
    optional=True,
    extra_compile_args=["-O2", "-std=c11"],
)

setup(package_dir=package_dir, packages=packages, ext_modules=[SPANBUF])
