"""A finding: one problem (or notable fact) with a stable code, the targets it affects and a fix."""

from typing import Dict, List, Optional

ERROR = "error"  # the image will not boot / work on the target: verdict "not ready"
WARNING = "warning"  # works now, but risky or degraded
INFO = "info"

TARGETS = ("kvm", "xen")


class Finding:
    def __init__(self, code: str, severity: str, targets: List[str], message: str,
                 remediation: str = "", kernel: Optional[str] = None, file: Optional[str] = None,
                 line: Optional[int] = None, blocking: Optional[bool] = None, subject: Optional[str] = None):
        self.code = code
        self.severity = severity
        self.targets = list(targets)
        self.message = message
        self.remediation = remediation
        self.kernel = kernel
        self.file = file
        self.line = line
        self.subject = subject  # what the finding is about, for fix (e.g. a PV suite's id); not reported
        # an error makes the verdict "not ready" unless it concerns a kernel that does not boot
        self.blocking = (severity == ERROR) if blocking is None else blocking

    def to_dict(self) -> Dict[str, object]:
        return {"code": self.code, "severity": self.severity, "targets": self.targets,
                "blocking": self.blocking, "message": self.message, "remediation": self.remediation,
                "kernel": self.kernel, "file": self.file, "line": self.line}
