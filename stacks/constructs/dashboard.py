"""One CloudWatch dashboard per deployment, and saved Logs Insights queries on prompt traces."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.metrics import FIVE_MINUTES, RAG_STEPS, ObservedDeployment

WIDTH = 8
TRACE = "prompt_trace"
# The advanced-RAG steps (query expansion, self-query, fusion) beside RAG_STEPS.
RETRIEVAL_STEPS = ("Expand", "SelfQuery", "Fuse")
# Logs Insights query bodies over the app's prompt-trace log records.
SAVED_QUERIES: dict[str, logs.QueryString] = {
    "slowest-requests": logs.QueryString(
        fields=[
            "@timestamp",
            f"{TRACE}.request_id",
            f"{TRACE}.latency_ms.total",
            f"{TRACE}.latency_ms.generate",
            f"{TRACE}.latency_ms.search",
            f"{TRACE}.query",
        ],
        filter_statements=[f'message = "{TRACE}"'],
        sort=f"{TRACE}.latency_ms.total desc",
        limit=25,
    ),
    "empty-retrievals": logs.QueryString(
        fields=["@timestamp", f"{TRACE}.request_id", f"{TRACE}.query"],
        filter_statements=[
            f'message = "{TRACE}"',
            f"not ispresent({TRACE}.retrieved.0.point_id)",
            # error_code is null on success; isblank covers null and missing alike.
            f"isblank({TRACE}.error_code)",
        ],
        sort="@timestamp desc",
        limit=50,
    ),
    "token-usage": logs.QueryString(
        filter_statements=[f'message = "{TRACE}"'],
        stats_statements=[
            f"sum({TRACE}.prompt_tokens_estimate) as prompt_tokens, "
            f"sum({TRACE}.generated_tokens) as generated_tokens, "
            "count(*) as requests by bin(1h)"
        ],
    ),
    # Requests where query expansion or self-query fell back to the plain path, and why.
    "retrieval-fallbacks": logs.QueryString(
        fields=[
            "@timestamp",
            f"{TRACE}.request_id",
            f"{TRACE}.fallbacks.0",
            f"{TRACE}.author",
            f"{TRACE}.query",
        ],
        filter_statements=[f'message = "{TRACE}"', f"ispresent({TRACE}.fallbacks.0)"],
        sort="@timestamp desc",
        limit=50,
    ),
    "errors-by-code": logs.QueryString(
        filter_statements=[f'message = "{TRACE}"', f"not isblank({TRACE}.error_code)"],
        stats_statements=[f"count(*) as errors by {TRACE}.error_code, bin(1h)"],
    ),
}
# The function logs in Lambda's JSON format, where platform reports are JSON records too.
INIT_DURATION_QUERY = (
    'filter type = "platform.report" and ispresent(record.metrics.initDurationMs)'
    " | stats count(*) as cold_starts, avg(record.metrics.initDurationMs) as avg_ms,"
    " max(record.metrics.initDurationMs) as max_ms by @log, bin(5m)"
)


class DeploymentDashboard(Construct):
    """API, Lambda, endpoint and RAG-step views on one page."""

    def __init__(
        self, scope: Construct, construct_id: str, *, observed: ObservedDeployment
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"llm-twin-{observed.config.resource_prefix}",
            default_interval=None,
        )
        self.dashboard.add_widgets(*self._api_widgets(observed))
        self.dashboard.add_widgets(*self._lambda_widgets(observed))
        self.dashboard.add_widgets(*self._endpoint_widgets(observed))
        self.dashboard.add_widgets(*self._rag_widgets(observed))
        self.queries = [
            logs.QueryDefinition(
                self,
                f"Query{name.title().replace('-', '')}",
                query_definition_name=f"llm-twin/{observed.config.resource_prefix}/{name}",
                query_string=query,
                log_groups=observed.app_logs,
            )
            for name, query in SAVED_QUERIES.items()
        ]

    def _api_widgets(self, observed: ObservedDeployment) -> list[cloudwatch.IWidget]:
        api = observed.rest_api
        return [
            cloudwatch.GraphWidget(
                title="API requests and errors",
                width=WIDTH,
                left=[
                    api.metric_count(period=FIVE_MINUTES),
                    api.metric_client_error(period=FIVE_MINUTES),
                    api.metric_server_error(period=FIVE_MINUTES),
                ],
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                width=WIDTH,
                left=[
                    api.metric_latency(period=FIVE_MINUTES, statistic=stat, label=f"latency {stat}")
                    for stat in ("p50", "p95", "p99")
                ],
                right=[api.metric_integration_latency(period=FIVE_MINUTES, statistic="p95")],
            ),
        ]

    def _lambda_widgets(self, observed: ObservedDeployment) -> list[cloudwatch.IWidget]:
        functions = observed.functions
        return [
            cloudwatch.GraphWidget(
                title="Lambda duration p50 / p95 / max (ms)",
                width=WIDTH,
                left=[
                    watched.function.metric_duration(
                        period=FIVE_MINUTES, statistic=stat, label=f"{watched.label} {stat}"
                    )
                    for watched in functions
                    for stat in ("p50", "p95", "Maximum")
                ],
            ),
            cloudwatch.GraphWidget(
                title="Lambda errors, throttles, concurrency",
                width=WIDTH,
                left=[
                    metric
                    for watched in functions
                    for metric in (
                        watched.function.metric_errors(
                            period=FIVE_MINUTES, label=f"{watched.label} errors"
                        ),
                        watched.function.metric_throttles(
                            period=FIVE_MINUTES, label=f"{watched.label} throttles"
                        ),
                    )
                ],
                right=[
                    watched.function.metric(
                        "ConcurrentExecutions",
                        period=FIVE_MINUTES,
                        statistic="Maximum",
                        label=f"{watched.label} concurrency",
                    )
                    for watched in functions
                ],
            ),
            cloudwatch.LogQueryWidget(
                title="Lambda cold starts (init duration)",
                width=WIDTH,
                log_group_names=[watched.logs.log_group_name for watched in functions],
                query_string=INIT_DURATION_QUERY,
                view=cloudwatch.LogQueryVisualizationType.TABLE,
            ),
        ]

    def _endpoint_widgets(self, observed: ObservedDeployment) -> list[cloudwatch.IWidget]:
        components = observed.components
        names = observed.config.names
        # The components on GPUs: the LLM, and the helper when there is one.
        gpu_components = [c for c in (names.llm_component, names.helper_component) if c]
        return [
            cloudwatch.GraphWidget(
                title="Endpoint invocations and errors",
                width=WIDTH,
                left=[
                    observed.component_metric(c, "Invocations").with_(label=c) for c in components
                ],
                right=[
                    observed.component_metric(c, name).with_(label=f"{c} {name}")
                    for c in components
                    for name in (
                        "Invocation4XXErrors",
                        "Invocation5XXErrors",
                        "NoCapacityInvocationFailures",
                    )
                ],
            ),
            cloudwatch.GraphWidget(
                title="Model latency p95 (microseconds)",
                width=WIDTH,
                left=[
                    observed.component_metric(c, "ModelLatency", "p95").with_(label=c)
                    for c in components
                ],
            ),
            cloudwatch.GraphWidget(
                title="Copies and instances",
                width=WIDTH,
                left=[observed.copies(c) for c in components],
                right=[observed.instances()],
            ),
            cloudwatch.GraphWidget(
                title="LLM GPU and memory utilization (%)",
                width=WIDTH,
                left=[
                    observed.component_utilization(c, name)
                    for c in gpu_components
                    for name in ("GPUUtilizationNormalized", "GPUMemoryUtilizationNormalized")
                ],
                right=[
                    observed.component_utilization(c, "MemoryUtilizationNormalized")
                    for c in components
                ],
            ),
        ]

    def _rag_widgets(self, observed: ObservedDeployment) -> list[cloudwatch.IWidget]:
        return [
            cloudwatch.GraphWidget(
                title="RAG step latency p95 (ms)",
                width=WIDTH,
                left=[
                    observed.rag_metric(f"{step}Latency", "p95")
                    for step in (*RETRIEVAL_STEPS, *RAG_STEPS)
                ],
                # Chat requests: what a user waits before the answer starts to stream.
                right=[observed.rag_metric("TimeToFirstToken", "p95")],
            ),
            cloudwatch.GraphWidget(
                title="Tokens per five minutes",
                width=WIDTH,
                left=[
                    observed.rag_metric(name, "Sum") for name in ("PromptTokens", "GeneratedTokens")
                ],
            ),
        ]
