"""The local stack: AWS emulator launcher, fleet seeding, Slack recorder, settings."""
