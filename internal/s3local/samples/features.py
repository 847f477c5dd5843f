"""Feature engineering for campaign scoring (a py-file dependency of examples/pyspark.yaml)."""
from pyspark.sql import functions as F


def campaign_features(events):
    """Aggregates attributed events into one row per campaign with its click and conversion counts."""
    return (
        events.groupBy("campaign_id", "channel")
        .agg(
            F.sum(F.when(F.col("event_type") == "click", 1).otherwise(0)).alias("clicks"),
            F.sum(F.when(F.col("event_type") == "conversion", 1).otherwise(0)).alias("conversions"),
        )
        .withColumn(
            "conversion_rate",
            F.when(F.col("clicks") > 0, F.col("conversions") / F.col("clicks")).otherwise(F.lit(0.0)),
        )
    )
