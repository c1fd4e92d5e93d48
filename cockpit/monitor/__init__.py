"""The engine: discovers runs, drives followers and readers, feeds detectors and the
writer, and decides each run's lifecycle. The CLI and the app both drive it."""
