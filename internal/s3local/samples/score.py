"""Campaign scoring: the application file of examples/pyspark.yaml.

Scores every campaign on yesterday's clicks and conversions. Run by CDE as
`spark-submit score.py --date yesterday`, with features.py and channels.zip as py-files.
"""
import argparse
import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from channels.attribution import attribute
from features import campaign_features


def parse_date(value):
    if value == "yesterday":
        return datetime.date.today() - datetime.timedelta(days=1)
    return datetime.date.fromisoformat(value)


def main():
    parser = argparse.ArgumentParser(description="Score marketing campaigns")
    parser.add_argument("--date", default="yesterday")
    args = parser.parse_args()
    day = parse_date(args.date)

    spark = SparkSession.builder.appName("marketing-campaigns-scoring").getOrCreate()
    events = spark.table("marketing.campaign_events").where(F.col("event_date") == F.lit(day.isoformat()))
    scored = campaign_features(attribute(events)).withColumn(
        "score", F.col("conversion_rate") * F.log1p(F.col("clicks"))
    )
    scored.write.mode("overwrite").saveAsTable("marketing.campaign_scores")
    spark.stop()


if __name__ == "__main__":
    main()
