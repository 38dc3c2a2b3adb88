"""The backup account ("bunker"): copies of managed snapshots an attacker in the source account cannot delete."""
