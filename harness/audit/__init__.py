"""The audit: runs the catalogue (or the mutation suite) on one version set or a matrix of them, and
writes what it found as frozen data and as reports (Markdown, HTML, JUnit, JSON), side by side."""
