package s3local

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestManifestWrapsLongAttributesAt72Bytes(t *testing.T) {
	long := "com.example." + strings.Repeat("verylongpackagename.", 8) + "Main"
	tests := []struct {
		name  string
		attrs [][2]string
		want  string
	}{
		{
			name:  "short attributes stay on one CRLF line each and a blank line ends the section",
			attrs: [][2]string{{"Manifest-Version", "1.0"}, {"Main-Class", "a.B"}},
			want:  "Manifest-Version: 1.0\r\nMain-Class: a.B\r\n\r\n",
		},
		{
			name:  "a value past 72 bytes continues on lines starting with a space",
			attrs: [][2]string{{"Main-Class", long}},
			want: func() string {
				line := "Main-Class: " + long
				out := line[:72] + "\r\n"
				for rest := line[72:]; rest != ""; {
					n := min(71, len(rest))
					out += " " + rest[:n] + "\r\n"
					rest = rest[n:]
				}
				return out + "\r\n"
			}(),
		},
		{
			name:  "a multi-byte character is never split across lines",
			attrs: [][2]string{{"Implementation-Title", strings.Repeat("é", 40)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(manifest(tt.attrs))
			if tt.want != "" {
				assert.Equal(t, tt.want, got)
			}
			var joined strings.Builder
			for line := range strings.SplitSeq(strings.TrimSuffix(got, "\r\n\r\n"), "\r\n") {
				assert.LessOrEqual(t, len(line), 72, "line %q", line)
				assert.True(t, strings.ToValidUTF8(line, "?") == line, "line %q is valid UTF-8", line)
				if strings.HasPrefix(line, " ") {
					joined.WriteString(line[1:])
				} else {
					if joined.Len() > 0 {
						joined.WriteString("\n")
					}
					joined.WriteString(line)
				}
			}
			var want []string
			for _, kv := range tt.attrs {
				want = append(want, kv[0]+": "+kv[1])
			}
			assert.Equal(t, strings.Join(want, "\n"), joined.String(), "continuation lines join back to the attributes")
		})
	}
}
