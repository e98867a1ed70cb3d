"""The code of conduct: rules read from YAML, compiled once, checked on every outgoing message.

The send gateway needs only these names::

    from socialdesk import policy

    compiled = policy.compile_policy(policy.load_policy(yaml_text))
    decision = policy.check(compiled, draft, channel=kind, visibility=vis, signature="JD")
    if decision.outcome is policy.Outcome.BLOCK: ...
    text_to_send = policy.sign(draft, "JD")
"""

from socialdesk.policy.checker import (
    CompiledPolicy,
    Decision,
    Outcome,
    Violation,
    check,
    compile_policy,
)
from socialdesk.policy.length import channel_length, count, limit_for, sign
from socialdesk.policy.rules import (
    Action,
    Policy,
    PolicyError,
    dump_policy,
    load_policy,
    load_policy_file,
    load_starter,
    merge_policies,
    policy_from_data,
    policy_to_data,
    starter_names,
)

__all__ = [
    "Action",
    "CompiledPolicy",
    "Decision",
    "Outcome",
    "Policy",
    "PolicyError",
    "Violation",
    "channel_length",
    "check",
    "compile_policy",
    "count",
    "dump_policy",
    "limit_for",
    "load_policy",
    "load_policy_file",
    "load_starter",
    "merge_policies",
    "policy_from_data",
    "policy_to_data",
    "sign",
    "starter_names",
]
