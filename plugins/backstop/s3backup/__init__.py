"""S3: bucket posture, point-in-time prefix restores from versions, dated incremental backup copies."""
