package cde

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestFindServiceRefusesANameLiveInSeveralEnvironments(t *testing.T) {
	list := `{"services":[
		{"name":"etl","clusterId":"c-a","environmentName":"env-a","status":"ClusterCreationCompleted"},
		{"name":"etl","clusterId":"c-old","environmentName":"env-c","status":"ClusterDeletionCompleted"},
		{"name":"etl","clusterId":"c-b","environmentName":"env-b","status":"ClusterCreationFailed"},
		{"name":"one-env","clusterId":"o-new","environmentName":"env-a","status":"ClusterCreationCompleted"},
		{"name":"one-env","clusterId":"o-failed","environmentName":"env-a","status":"ClusterCreationFailed"},
		{"name":"moved","clusterId":"m-old","environmentName":"env-a","status":"ClusterDeletionCompleted"},
		{"name":"moved","clusterId":"m-new","environmentName":"env-b","status":"ClusterCreationCompleted"}]}`
	_, c := newFakeCDP(t, map[string]fakeAnswer{"listServices": ok200(list)})
	ctx := context.Background()

	_, err := c.FindService(ctx, "etl")
	if !errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrNotFound) || IsTransient(err) {
		t.Fatalf("FindService(etl) err = %v; want a permanent ErrAmbiguous", err)
	}
	amb, ok := errors.AsType[*AmbiguousServiceError](err)
	if !ok {
		t.Fatalf("err %T is not an *AmbiguousServiceError", err)
	}
	var ids []string
	for _, s := range amb.Services {
		ids = append(ids, s.ClusterID)
	}
	assertEqual(t, "candidates (live ones only, in list order)", ids, []string{"c-a", "c-b"})
	for _, want := range []string{`"etl"`, "c-a in environment env-a (ClusterCreationCompleted)", "c-b in environment env-b (ClusterCreationFailed)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "c-old") {
		t.Errorf("a deleted service is no candidate: %q", err)
	}

	// Several services of one environment are a re-creation, not an ambiguity.
	s, err := c.FindService(ctx, "one-env")
	if err != nil || s.ClusterID != "o-new" {
		t.Errorf("FindService(one-env) = %+v, %v; want the running o-new", s, err)
	}
	// A deleted service elsewhere does not make the live one ambiguous.
	s, err = c.FindService(ctx, "moved")
	if err != nil || s.ClusterID != "m-new" {
		t.Errorf("FindService(moved) = %+v, %v; want m-new", s, err)
	}
}
