"""The framework's levers: stockpile sizing, a project-financing portfolio, price floors and
offtakes, and what a shortfall costs — optimisation models (linopy + HiGHS) over the risk
ensembles, verified out of sample with the full engine. See ``docs/levers.md``."""
