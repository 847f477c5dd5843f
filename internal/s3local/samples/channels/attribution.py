"""Last-touch attribution of conversion events to the channel that brought the visitor."""
from pyspark.sql import Window
from pyspark.sql import functions as F

from channels import CHANNELS


def attribute(events):
    """Gives every event the channel of the visitor's latest click at or before it."""
    latest_click = (
        Window.partitionBy("visitor_id").orderBy("event_time").rowsBetween(Window.unboundedPreceding, 0)
    )
    clicked = F.when(F.col("event_type") == "click", F.col("channel"))
    return events.withColumn("channel", F.last(clicked, ignorenulls=True).over(latest_click)).where(
        F.col("channel").isin(*CHANNELS)
    )
