"""Marketing channels: the package inside channels.zip, a py-file dependency of examples/pyspark.yaml."""

CHANNELS = ("email", "search", "social", "display")
