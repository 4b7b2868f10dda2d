package nhsa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rxguard/rxguard/server/nhsa"
)

// tenLines is a 3101 outpatient prescription of 10 demo drug lines, the
// benchmark's order.
func tenLines() []byte {
	codes := []string{"XB01AAD9001A001010199901", "XB01ACD9002A001010199902", "XJ01XDD9003A001010199903", "XC10AAD9004A001010199904",
		"XJ01FAD9005A001010199905", "XG04BED9012A001010199912", "XJ01MAD9026B002010199926", "ZD03AAA0043010100166",
		"XB01AAD9001A001010199901", "XB01ACD9002A001010199902"}
	var orders []any
	for i, c := range codes {
		orders = append(orders, map[string]any{"rx_id": fmt.Sprint("RX", i+1), "hilist_type": "101", "hilist_code": c, "hilist_name": "药品",
			"cnt": "2", "pric": "12.50", "sumamt": "25.00", "drord_begn_date": "2026-11-22 10:00:00", "drord_stop_date": "2026-11-29 10:00:00",
			"drord_dr_codg": "D370800000001", "drord_dr_profttl": "231", "curr_drord_flag": "1", "hilist_lv": "--"})
	}
	b, _ := json.Marshal(map[string]any{"infno": "3101", "msgid": "M1", "inf_time": "2026-11-22 10:00:00", "fixmedins_code": "H37080000001",
		"input": map[string]any{"data": map[string]any{"syscode": "HIS", "task_id": "T1", "trig_scen": "2", "patient_dtos": []any{
			map[string]any{"patn_id": "P1", "gend": "1", "brdy": "1978-03-14", "curr_mdtrt_id": "E1", "fsi_encounter_dtos": []any{
				map[string]any{"mdtrt_id": "E1", "medins_lv": "05", "med_type": "11", "insutype": "310", "adm_dept_codg": "A03",
					"fsi_diagnose_dtos": []any{map[string]any{"maindise_flag": "1", "dise_codg": "R10.400", "dise_name": "腹痛"}},
					"fsi_order_dtos":    orders}}}}}}})
	return b
}

// BenchmarkNHSA3101 compares POST /nhsa/3101 with gRPC CheckOrders of
// the same 10-line order, both over loopback to the same sidecar (with its
// decision log); each reports p50 and p99 latency.
func BenchmarkNHSA3101(b *testing.B) {
	s := startSidecar(b, nhsaConfigDefault())
	body := tenLines()
	reqs, _, err := nhsa.Convert(body, nhsaConfigDefault())
	if err != nil || len(reqs) != 1 || len(reqs[0].Orders) != 10 {
		b.Fatalf("convert: %v %v", reqs, err)
	}
	ctx := context.Background()
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("http-3101", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			resp, err := s.client.Post(s.base+"/nhsa/3101", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
	b.Run("grpc-baseline", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if _, err := s.guard.CheckOrders(ctx, reqs[0]); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
}
