"""What every process shares: settings, logging, the payload codec, the Temporal client and its setup."""
