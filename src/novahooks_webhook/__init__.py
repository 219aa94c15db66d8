"""Instance lifecycle events as signed CloudEvents to operators' HTTP
endpoints (issue #26)."""
