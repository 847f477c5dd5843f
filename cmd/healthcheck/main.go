// Command healthcheck is the container health check of the images: they are distroless (no
// shell, no curl), so docker-compose runs this static binary instead. It checks every probe
// given and exits 0 when all pass, 1 otherwise (printing why):
//
//	healthcheck http://127.0.0.1:8093/health      # GET answers 2xx
//	healthcheck tcp://127.0.0.1:8443              # something accepts connections
//	healthcheck file:///ca/cdesim-ca.pem          # a non-empty regular file exists
//	healthcheck -insecure https://127.0.0.1:8093/health  # the API serving TLS (TLS_CERT_FILE)
//
// Kubernetes does not need it: its probes are HTTP probes on the same endpoints.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/internal/version"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "bound of all the probes together")
	insecure := fs.Bool("insecure", false, "do not verify the certificate of https probes (as Kubernetes' HTTPS probes do not): for a server on the loopback with a certificate for its public name")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("healthcheck"))
		return nil
	}
	if fs.NArg() == 0 {
		return errors.New("no probe given (http://…, https://…, tcp://host:port, file:///path)")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for _, p := range fs.Args() {
		if err := probe(ctx, p, *insecure); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// probe checks one target, chosen by the scheme of its URL.
func probe(ctx context.Context, target string, insecure bool) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		// A client of its own: no proxy from the environment (a health check of a local port
		// must not go through HTTP_PROXY), TLS verified against the system roots unless told.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	case "tcp":
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return err
		}
		return conn.Close()
	case "file":
		fi, err := os.Stat(u.Path)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || fi.Size() == 0 {
			return errors.New("not a non-empty regular file")
		}
		return nil
	default:
		return fmt.Errorf("unknown probe scheme %q (want http, https, tcp or file)", u.Scheme)
	}
}
