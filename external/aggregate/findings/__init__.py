"""Findings: what the calls of an invocation mean, said in the recap (extension process).

After the runtime's response the extension has every call of the invocation in one place. The
detectors here read them (their timing, endpoints, attempts, sizes) and say what they mean:
calls a batch operation would do (`repeated-call`), independent calls made one after another
(`sequential-calls`), attempts lost to retries, calls that could outlive the function, ...
(docs/FINDINGS.md). Each detector is a pure function of the invocation's `Facts`, its
`Thresholds` and the environment's `History`; `registry.Findings` runs the enabled ones.
"""
