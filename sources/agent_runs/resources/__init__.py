"""The dlt source and its resources: every account's listing of new runs (new_runs), its refresh
of the runs loaded while open (open_runs), and the steps they read (run_steps). Beside them, what
they share and no resource owns: the load's options (options), each resource made to fail alone
(isolation), what the listing keeps in its state (recent_runs), and the steps on their way from
the first two to the third (steps_outbox)."""
