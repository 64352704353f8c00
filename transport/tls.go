package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// LoadTLS builds the client TLS configuration for TiKV (and PD) from PEM
// files, as client-go's Security does: TLS is on only when caPath is set
// (nil, nil otherwise); the CA verifies the servers; certPath and keyPath,
// when set, are the client certificate, read again from disk on every
// handshake so that rotated certificates are picked up without a restart.
// Both files are read once here, so a bad path fails now, not at the first
// connection.
func LoadTLS(caPath, certPath, keyPath string) (*tls.Config, error) {
	if caPath == "" {
		if certPath != "" || keyPath != "" {
			return nil, errors.New("tls: a client certificate needs a CA (set the CA path)")
		}
		return nil, nil
	}
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("tls: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("tls: no PEM certificate in %s", caPath)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certPath == "" && keyPath == "" {
		return cfg, nil
	}
	if certPath == "" || keyPath == "" {
		return nil, errors.New("tls: set both the certificate and the key path, or neither")
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		return nil, fmt.Errorf("tls: load client certificate: %w", err)
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("tls: reload client certificate: %w", err)
		}
		return &cert, nil
	}
	return cfg, nil
}
