"""CaseWorkflow's actions, one module per group: each update with its validator and the steps it takes."""
