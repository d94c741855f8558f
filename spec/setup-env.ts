// Tests log at warn unless HWAY_LOG_LEVEL says otherwise (tests that inspect logs set their own logger).
process.env.HWAY_LOG_LEVEL ??= 'warn';
