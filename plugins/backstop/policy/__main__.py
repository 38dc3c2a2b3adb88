"""`python -m backstop.policy validate [PATH]`: check a policy file, print what it protects."""

from __future__ import annotations

import sys

from backstop.policy.loader import PolicyError, load_policy, policy_path


def _main(argv: list[str]) -> int:
    if not argv or argv[0] != "validate":
        print("usage: python -m backstop.policy validate [PATH]", file=sys.stderr)
        return 2
    path = policy_path(argv[1] if len(argv) > 1 and argv[1] else None)
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{path}: valid")
    for policy_item in policy.rds_snapshots:
        schedule = policy.schedules[policy_item.tier]
        print(
            f"  {policy_item.name}: {len(policy_item.resources)} resource(s), tier {policy_item.tier} "
            f"({schedule.cron} {policy.defaults.timezone}), region {policy.region_of(policy_item)}, "
            f"DR {[d.region for d in policy_item.dr_regions] or 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
