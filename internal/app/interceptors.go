package app

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// componentLogging adds componentID to every log line of workflows and activities (the SDK
// already adds the workflow id and run id), so an operator can grep one component's runs in the
// worker's logs as in the Temporal UI.
type componentLogging struct {
	interceptor.WorkerInterceptorBase
}

func (componentLogging) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityLogging{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

func (componentLogging) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &workflowLogging{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type activityLogging struct {
	interceptor.ActivityInboundInterceptorBase
}

func (a *activityLogging) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return a.Next.Init(&activityLoggingOut{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}})
}

type activityLoggingOut struct {
	interceptor.ActivityOutboundInterceptorBase
}

func (a *activityLoggingOut) GetLogger(ctx context.Context) log.Logger {
	logger := a.Next.GetLogger(ctx)
	if comp := workflows.ComponentIDFromWorkflowID(activity.GetInfo(ctx).WorkflowExecution.ID); comp != "" {
		return log.With(logger, "componentID", comp)
	}
	return logger
}

type workflowLogging struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (w *workflowLogging) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return w.Next.Init(&workflowLoggingOut{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

type workflowLoggingOut struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (w *workflowLoggingOut) GetLogger(ctx workflow.Context) log.Logger {
	logger := w.Next.GetLogger(ctx)
	if comp := workflows.ComponentIDFromWorkflowID(workflow.GetInfo(ctx).WorkflowExecution.ID); comp != "" {
		return log.With(logger, "componentID", comp)
	}
	return logger
}
