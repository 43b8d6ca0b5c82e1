package mercure

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseUpdate(t *testing.T) {
	u, err := parseUpdate(url.Values{
		"topic":   {"https://example.com/books/1", "https://example.com/books"},
		"data":    {"line 1\nline 2"},
		"id":      {"urn:uuid:1"},
		"type":    {"book"},
		"retry":   {"2500"},
		"private": {""},
	}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Topics, []string{"https://example.com/books/1", "https://example.com/books"}) ||
		u.Data != "line 1\nline 2" || u.ID != "urn:uuid:1" || u.Type != "book" ||
		u.Retry != 2500*time.Millisecond || !u.Private {
		t.Fatalf("update = %+v", u)
	}
	u, err = parseUpdate(url.Values{"topic": {"t"}, "retry": {""}}, 10)
	if err != nil || u.Private || u.Retry != 0 || u.ID != "" {
		t.Fatalf("minimal update = %+v, %v", u, err)
	}
}

func TestParseUpdateErrorsNameTheField(t *testing.T) {
	tests := []struct {
		form  string
		field string
	}{
		{"data=x", "topic"},
		{"topic=", "topic"},
		{"topic=a&topic=b&topic=c&topic=d", "topic"},
		{"topic=a&id=x%0Ay", "id"},
		{"topic=a&id=x%0Dy", "id"},
		{"topic=a&id=x%00y", "id"},
		{"topic=a&id=%23fragment", "id"},
		{"topic=a&id=earliest", "id"},
		{"topic=a&type=a%0Ab", "type"},
		{"topic=a&type=a%0Db", "type"},
		{"topic=a&retry=-1", "retry"},
		{"topic=a&retry=%2B1", "retry"},
		{"topic=a&retry=1.5", "retry"},
		{"topic=a&retry=1e3", "retry"},
		{"topic=a&retry=%201", "retry"},
		{"topic=a&retry=99999999999999999999", "retry"},
		{"topic=a&retry=9223372036855", "retry"},
	}
	for _, tt := range tests {
		form, err := url.ParseQuery(tt.form)
		if err != nil {
			t.Fatal(err)
		}
		u, err := parseUpdate(form, 3)
		if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
			t.Errorf("parseUpdate(%s) = %+v, %v; want an error naming %s", tt.form, u, err, tt.field)
		}
	}
}
