"""Weekly vaccination report: the application file of examples/pyspark-env.yaml.

Runs in the python-env resource built from requirements.txt (pandas, pyarrow).
"""
import pandas as pd
import pyarrow as pa
from pyspark.sql import SparkSession


def main():
    spark = SparkSession.builder.appName("healthcare-vaccinations-weekly-report").getOrCreate()
    doses = spark.table("healthcare.vaccinations").toPandas()
    doses["week"] = pd.to_datetime(doses["administered_at"]).dt.to_period("W").dt.start_time
    report = doses.groupby(["region", "week"], as_index=False)["doses"].sum()
    table = pa.Table.from_pandas(report, preserve_index=False)
    spark.createDataFrame(table.to_pandas()).write.mode("overwrite").saveAsTable("healthcare.weekly_report")
    spark.stop()


if __name__ == "__main__":
    main()
