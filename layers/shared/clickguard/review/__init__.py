"""The reviewer's loop, pure: decisions on flags, the labels they give the trainer, and the allow-list rule.

A reviewer (a person with ``clickguard review``, or a service) decides ``block`` or ``allow`` on a flag and sends
the decision to the decisions queue; the decisions Lambda validates it (``decision``), records it once in the
decision log under ``labels/`` (which the trainer reads: ``labels``) and keeps the allow-list the consumer consults
(``allowlist``, ``rule``). Nothing here does I/O: the ports are in ``ports``, the AWS adapters in
``clickguard.store.decisions`` and ``clickguard.store.allowlist``.
"""
