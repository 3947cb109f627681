package insight_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/services/analytics/internal/analytics"
	"github.com/rapportcrm/rapport/services/analytics/internal/insight"
)

// auc is the probability that a random positive scores above a random
// negative, ties counting half (the Mann–Whitney statistic).
func auc(scores []int32, labels []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for k := i; k < j; k++ {
			if labels[idx[k]] {
				rankSum += mid
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

func TestAUC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scores []int32
		labels []bool
		want   float64
	}{
		{"perfect", []int32{1, 2, 3, 4}, []bool{false, false, true, true}, 1},
		{"inverted", []int32{4, 3, 2, 1}, []bool{false, false, true, true}, 0},
		{"all tied", []int32{5, 5, 5, 5}, []bool{false, true, false, true}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := auc(tt.scores, tt.labels); got != tt.want {
				t.Fatalf("auc(%v, %v) = %v, want %v", tt.scores, tt.labels, got, tt.want)
			}
		})
	}
}

// TestChurnScoreAgainstTelco scores every subscriber of the Telco churn data
// set from the attributes the customer import gives them (contract,
// tenure_months, monthly_charges) and checks the score ranks the data set's
// own churn label well: AUC well above 0.5.
func TestChurnScoreAgainstTelco(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("..", "..", "..", "..", "..", "shared", "data", "telco-customer-churn", "WA_Fn-UseC_-Telco-Customer-Churn.csv"))
	if err != nil {
		t.Fatalf("the shared Telco data set is missing: %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var scores []int32
	var labels []bool
	churned := 0
	for _, r := range recs[1:] {
		tenure, err1 := strconv.ParseFloat(r[col["tenure"]], 64)
		monthly, err2 := strconv.ParseFloat(r[col["MonthlyCharges"]], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("subscriber %s: bad tenure or charges", r[col["customerID"]])
		}
		contract := r[col["Contract"]]
		// The stage the import sets (churned for the churned) must not matter.
		score, _ := insight.ScoreChurn(insight.ChurnFacts{Stage: analytics.LifecycleChurned, Contract: &contract, TenureMonths: &tenure, MonthlyCharges: &monthly}, ref)
		unstaged, _ := insight.ScoreChurn(insight.ChurnFacts{Contract: &contract, TenureMonths: &tenure, MonthlyCharges: &monthly}, ref)
		if score != unstaged {
			t.Fatalf("the lifecycle stage changed a score: %d vs %d", score, unstaged)
		}
		label := r[col["Churn"]] == "Yes"
		if label {
			churned++
		}
		scores = append(scores, score)
		labels = append(labels, label)
	}
	got := auc(scores, labels)
	t.Logf("Telco churn: %d subscribers, %d churned; AUC of the churn risk score = %.4f", len(scores), churned, got)
	if len(scores) != 7043 || got < 0.75 {
		t.Fatalf("AUC = %.4f over %d subscribers, want at least 0.75 over 7043", got, len(scores))
	}
}

func TestScoreChurnReasons(t *testing.T) {
	t.Parallel()
	ref := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	m2m, twoYear := "Month-to-month", "Two year"
	short, long, high := 3.0, 60.0, 95.0
	tests := []struct {
		name  string
		facts insight.ChurnFacts
		score int32
		want  []insight.Contribution
	}{
		{"nothing known", insight.ChurnFacts{}, 0, nil},
		{"loyal two-year subscriber", insight.ChurnFacts{Contract: &twoYear, TenureMonths: &long}, 0, nil},
		{"new month-to-month subscriber paying much", insight.ChurnFacts{Contract: &m2m, TenureMonths: &short, MonthlyCharges: &high}, 72,
			[]insight.Contribution{{insight.ReasonMonthToMonthContract, 35}, {insight.ReasonShortTenure, 25}, {insight.ReasonHighCharges, 12}}},
		{"silent, spending less, complaining", insight.ChurnFacts{LastActivity: ref.Add(-200 * 24 * time.Hour), RecentSpend: 10, PriorSpend: 100, OpenTickets: 5}, 80,
			[]insight.Contribution{{insight.ReasonInactivity, 30}, {insight.ReasonDecliningSpend, 20}, {insight.ReasonOpenComplaints, 30}}},
		{"capped at 100", insight.ChurnFacts{LastActivity: ref.Add(-400 * 24 * time.Hour), PriorSpend: 100, OpenTickets: 3, Contract: &m2m, TenureMonths: &short}, 100,
			[]insight.Contribution{{insight.ReasonInactivity, 40}, {insight.ReasonDecliningSpend, 20}, {insight.ReasonOpenComplaints, 30},
				{insight.ReasonMonthToMonthContract, 35}, {insight.ReasonShortTenure, 25}}},
		{"recent activity", insight.ChurnFacts{LastActivity: ref.Add(-10 * 24 * time.Hour), RecentSpend: 100, PriorSpend: 100}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			score, reasons := insight.ScoreChurn(tt.facts, ref)
			if score != tt.score || len(reasons) != len(tt.want) {
				t.Fatalf("ScoreChurn = %d, %v; want %d, %v", score, reasons, tt.score, tt.want)
			}
			for i := range reasons {
				if reasons[i] != tt.want[i] {
					t.Fatalf("ScoreChurn reasons = %v, want %v", reasons, tt.want)
				}
			}
		})
	}
}
