module github.com/rapportcrm/rapport/deploy/bench

go 1.26.0

require (
	github.com/rapportcrm/rapport/gen v0.0.0
	github.com/rapportcrm/rapport/pkg v0.0.0
)

replace (
	github.com/rapportcrm/rapport/gen => ../../gen
	github.com/rapportcrm/rapport/pkg => ../../pkg
)
