"""The dlt source and its resources: every account's listing of new runs (new_runs), its refresh
of the runs loaded while open (open_runs), the steps they read (steps), each resource made to
fail alone (isolation), and what the listing keeps in its state (recent_runs)."""
