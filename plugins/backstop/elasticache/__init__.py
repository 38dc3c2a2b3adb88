"""ElastiCache (Redis): daily managed snapshots, retention, posture, restore drills."""
