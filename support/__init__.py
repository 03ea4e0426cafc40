"""What several components share: the cache folder, manifest files, the console."""
