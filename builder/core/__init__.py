"""Infrastructure every stage uses: errors, record schemas, the verdict taxonomy, the prompt, tables (read, validate, quarantine, write)."""
