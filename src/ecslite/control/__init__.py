"""Controllers: level-triggered reconcilers that make actual state follow desired state."""
