"""Import sources: which sources may be read, and reading them within bounds.

A source is a file name in ETL_IMPORT_DIR or an http(s) URL on an allowed host. Every read is
capped in bytes (compressed and decompressed), line length and, for URLs, total time; a URL is
fetched only from a public address that was checked, on every redirect hop. What stops a source is
an `ImportRefused` whose message names the rule and is safe to show; the detail goes to the log.
"""
