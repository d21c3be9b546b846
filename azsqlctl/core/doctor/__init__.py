"""`azsqlctl doctor`: verify a token login end to end and say exactly what to fix.

- :mod:`.request`   ``DoctorRequest`` (what the command line said) -> ``prepare`` -> ``DoctorRun`` (validated, settings resolved)
- :mod:`.checks`    the checks over a typed context, and ``doctor(options, probes) -> DoctorReport``
- :mod:`.schedule`  dependencies between checks, run concurrently (graphlib: a cycle fails at import)
- :mod:`.judge`     pure judgments of the facts the probes gathered (token claims, DNS, TLS, ARM settings)
- :mod:`.ports`     ``DoctorProbes``: everything doctor touches outside the process
"""

from __future__ import annotations

from .checks import DoctorOptions, DoctorReport, Fix, doctor
from .ports import DoctorProbes
from .request import DoctorRequest, DoctorRun, prepare

__all__ = ["DoctorOptions", "DoctorProbes", "DoctorReport", "DoctorRequest", "DoctorRun", "Fix", "doctor", "prepare"]
