package activities

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// planSync uploads a file unless the manifest and the resource prove it unchanged, or an earlier
// attempt sent it; files of a resource without Prune that the descriptor does not list are left
// for PruneFiles.
func TestPlanSyncDecidesFileByFile(t *testing.T) {
	obj := func(key, etag string) ArtifactObject {
		return ArtifactObject{Artifact: descriptor.Artifact{Location: descriptor.S3Location{Bucket: "b", Key: key}}, Size: 10, ETag: etag}
	}
	in := SyncInput{ManifestResource: "manifest", Resources: []ResourceFiles{{Resource: "main", Type: cde.ResourceTypeFiles,
		Objects: []ArtifactObject{obj("app.jar", "e1"), obj("lib/same.jar", "e2"), obj("lib/changed.jar", "new"), obj("lib/sent.jar", "e4")}}}}
	current := map[string]map[string]cde.ResourceFile{"main": {
		"same.jar":    {Path: "same.jar", Signature: "s2", SizeBytes: 10},
		"changed.jar": {Path: "changed.jar", Signature: "s3", SizeBytes: 10},
		"old.jar":     {Path: "old.jar", Signature: "s9", SizeBytes: 10},
	}}
	old := manifest{Files: map[string]manifestEntry{
		"main/same.jar":    {Source: "s3://b/lib/same.jar", ETag: "e2", Size: 10, CDESignature: "s2", CDESizeBytes: 10},
		"main/changed.jar": {Source: "s3://b/lib/changed.jar", ETag: "old", Size: 10, CDESignature: "s3", CDESizeBytes: 10},
	}}
	p := planSync(in, current, old, map[string]bool{"main/sent.jar": true})

	var uploads []string
	for _, u := range p.uploads {
		uploads = append(uploads, u.obj.Artifact.Location.Basename())
	}
	assert.Equal(t, []string{"app.jar", "changed.jar"}, uploads, "in the descriptor's order")
	assert.Equal(t, []FileSync{
		{Resource: "main", Path: "same.jar", Action: ActionUnchanged, Source: "s3://b/lib/same.jar"},
		{Resource: "main", Path: "sent.jar", Action: ActionUploaded, Bytes: 10, Source: "s3://b/lib/sent.jar"},
	}, p.files)
	assert.Len(t, p.unlisted, 1)
	assert.Equal(t, "old.jar", p.unlisted[0].Path)

	in.Resources[0].Prune = true
	assert.Empty(t, planSync(in, current, old, nil).unlisted, "pruned by SyncFiles itself (runs of the first releases)")
}
