"""Party-committee supervision (党委督办): cases opened on overdue or flagged work."""
