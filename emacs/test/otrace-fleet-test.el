;;; otrace-fleet-test.el --- ERT tests of fleets: every worker of an app at once -*- lexical-binding: t -*-

;;; Commentary:

;; The fleet demo (demos/torna_fleet.py --workers 3: three real Tornado
;; worker processes on one port, each with its own otrace and discovery
;; file naming the fleet) attached by keyboard macros as a user does:
;; the held requests of every worker in one list, resume all, a trace
;; given once applied in every worker, the traced exceptions shown once,
;; the console in fleet mode, workers that come and go.
;;
;;   emacs --batch -Q -L emacs -l emacs/test/otrace-test.el \
;;     -l emacs/test/otrace-fleet-test.el -f ert-run-tests-batch-and-exit

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'otrace)
(require 'otrace-test)
(require 'otrace-dap)

(defconst otrace-fleet-test--workers 3
  "Workers of the fleet demo the tests start.")

(defmacro otrace-fleet-test--with-fleet (var &rest body)
  "Run BODY with VAR the fleet demo (an `otrace-test--app') started, then stop it."
  (declare (indent 1))
  `(let ((otrace-test--workers otrace-fleet-test--workers))
     (unless (file-exists-p (expand-file-name "demos/torna_fleet.py" otrace-test--root))
       (ert-skip "no fleet demo (demos/torna_fleet.py)"))
     (otrace-test--with-app (,var "demos/torna_fleet.py" "--workers" ,(format "%d" otrace-fleet-test--workers))
       (let ((otrace-test--workers nil))
         ,@body))))

(defun otrace-fleet-test--attach ()
  "Attach the fleet by keys, as a user: M-x otrace-connect, its fleet choice."
  (execute-kbd-macro (kbd "M-x otrace-connect RET torna_fleet TAB RET"))
  (otrace-test--wait (lambda () (= (length otrace--workers) otrace-fleet-test--workers)) "every worker attached"))

(defun otrace-fleet-test--worker-pids ()
  "The pids of the attached workers."
  (mapcar #'otrace--pid otrace--workers))

(defun otrace-fleet-test--held-workers ()
  "The pids of the workers holding a request, each once."
  (delete-dups (mapcar (lambda (h) (plist-get h :worker)) otrace--holds)))

(defun otrace-fleet-test--hold-in-workers (app &optional number)
  "Hold requests of APP (NUMBER, default 77) until several workers hold one; their buffers.
Which worker takes a connection is the kernel's choice: requests are
sent one by one until every worker holds one (at most 40), and at
least two must."
  (let ((responses nil))
    (while (and (< (length responses) 40)
                (< (length (otrace-fleet-test--held-workers)) otrace-fleet-test--workers))
      (push (otrace-test--http-get app (format "/?number=%d&n=%d" (or number 77) (length responses))) responses)
      (otrace-test--wait (lambda () (= (length otrace--holds) (length responses))) "the new hold"))
    (should (>= (length (otrace-fleet-test--held-workers)) 2))
    responses))

(defun otrace-fleet-test--answered-by (response)
  "The pid in the X-Worker-Pid header of the answer in buffer RESPONSE, or nil."
  (with-current-buffer response
    (goto-char (point-min))
    (and (re-search-forward "^X-Worker-Pid: \\([0-9]+\\)" nil t)
         (string-to-number (match-string 1)))))

(ert-deftest otrace-fleet-test-choices-group-a-fleet ()
  "Discovery: a fleet's workers are one choice (and each a choice of its own)."
  (let* ((fleet '(:id "ppid-10" :name "torna_fleet.py"))
         (processes (list (list :pid 12 :argv '("p" "torna_fleet.py") :cwd "/a" :fleet fleet :started 2.0)
                          (list :pid 11 :argv '("p" "torna_fleet.py") :cwd "/a" :fleet fleet :started 1.0)
                          (list :pid 30 :argv '("p" "alone.py") :cwd "/b" :started 1.0)))
         (choices (otrace--choices processes t)))
    (should (equal (mapcar #'car choices)
                   '("torna_fleet.py — fleet of 2 workers  (/a)" "12  p torna_fleet.py  (/a)"
                     "11  p torna_fleet.py  (/a)" "30  p alone.py  (/b)")))
    (should (equal (mapcar (lambda (p) (plist-get p :pid)) (plist-get (cdar choices) :workers)) '(11 12)))
    (should (= (length (otrace--choices processes nil)) 3))
    ;; the default counts the fleet once: alone with it, it is the default
    (cl-letf (((symbol-function 'completing-read)
               (lambda (_prompt _choices &rest args) (nth 4 args))))
      (should (equal (plist-get (otrace--choose-process (butlast processes) t) :fleet) fleet))
      (should (equal (mapcar (lambda (p) (plist-get p :pid)) processes) '(12 11 30))))))   ; left as they were

(ert-deftest otrace-fleet-test-ages-tick-without-redrawing-the-list ()
  "800 holds of 8 workers: each second writes the changed Age cells, never the whole list."
  (let ((otrace--workers nil)
        (otrace--patches nil)
        (otrace--holds nil)
        (now (float-time)))
    (otrace--set-holds (cl-loop for i below 800
                                collect (list :worker (+ 100 (% i 8)) :id (format "h%d" i) :number i
                                              :since (- now i) :label "l" :function "f"
                                              :summary (list :method "GET" :uri (format "/?i=%d" i)))))
    (unwind-protect
        (with-current-buffer (get-buffer-create otrace--holds-buffer)
          (otrace-holds-mode)
          (otrace--holds-entries)
          (tabulated-list-print)
          (let ((rows (buffer-string)))
            (cl-letf (((symbol-function 'tabulated-list-print) (lambda (&rest _) (ert-fail "a redraw")))
                      ((symbol-function 'float-time) (lambda (&rest _) (+ now 5))))
              (otrace--holds-tick-ages))
            (goto-char (point-min))
            (should (equal (aref (tabulated-list-get-entry) 3) "5s"))    ; 0 s old, 5 s later
            (forward-line 799)
            (should (equal (aref (tabulated-list-get-entry) 3) "804s"))
            ;; the rest of each row as it was
            (should (equal (replace-regexp-in-string "[0-9]+s$" "" (buffer-string))
                           (replace-regexp-in-string "[0-9]+s$" "" rows)))))
      (kill-buffer otrace--holds-buffer)
      (otrace--set-holds nil))))

(ert-deftest otrace-fleet-test-holds-of-every-worker-in-one-list-resume-all ()
  "Attached by keys: every worker's holds in one list, labelled; r and R y resume them."
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (should (string-match-p "\\[torna_fleet\\.py: 3 workers\\]" (otrace--lighter)))
    (let ((responses (otrace-fleet-test--hold-in-workers app)))
      (with-current-buffer (otrace-holds)
        (switch-to-buffer (current-buffer))    ; the keys go to the selected window's buffer
        (otrace-test--wait-views (length responses) "the list")
        (should (equal (car (aref tabulated-list-format 1)) "Worker"))
        (dolist (pid (otrace-fleet-test--held-workers))
          (should (otrace-test--buffer-has (current-buffer) (format " worker %d\\b" pid))))
        ;; r on a row: that hold, resumed in its worker (not the first worker's)
        (goto-char (point-min))
        (let* ((first (car otrace--workers))
               (row (cl-position-if (lambda (h) (not (eql (plist-get h :worker) (otrace--pid first))))
                                    otrace--holds))
               (hold (nth row otrace--holds)))
          (forward-line row)
          (should (eq (tabulated-list-get-id) hold))
          ;; c: its context, in its worker's console session
          (call-interactively (key-binding "c"))
          (otrace-test--wait (lambda () (otrace-test--buffer-has
                                         (get-buffer "*otrace console*")
                                         (format "^\\[pid %d\\] GetHandler[^>\n]*> \\'" (plist-get hold :worker))))
                             "the context in the console of the hold's worker")
          (switch-to-buffer (current-buffer))
          (goto-char (point-min))
          (forward-line row)
          (execute-kbd-macro (kbd "r"))
          (otrace-test--wait-views (1- (length responses)) "the resumed hold to leave the list")
          (let ((answered (cl-find-if (lambda (r) (otrace-test--buffer-has r "The reciprocal of 77")) responses)))
            (should (eql (otrace-fleet-test--answered-by answered) (plist-get hold :worker)))))
        ;; R y: every worker's holds, every held HTTP request answered
        (cl-letf (((symbol-function 'read-char-choice)
                   (lambda (prompt _chars)
                     (should (string-match-p "of fleet torna_fleet\\.py (3 workers)" prompt))
                     ?y)))
          (execute-kbd-macro (kbd "R")))
        (otrace-test--wait-views 0 "every hold to leave the list")
        (dolist (response responses)
          (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 77\\.0 is"))
                             "every held request answered")
          (kill-buffer response))))))

(ert-deftest otrace-fleet-test-new-workers-join-exited-ones-leave ()
  "A worker that exits is dropped quietly; the one started instead is attached by itself."
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (let* ((responses (otrace-fleet-test--hold-in-workers app))
           (victim (car (last (otrace-fleet-test--held-workers))))
           (before (otrace-fleet-test--worker-pids)))
      (signal-process victim 'SIGKILL)
      (otrace-test--wait (lambda () (not (memql victim (otrace-fleet-test--worker-pids)))) "the dead worker dropped")
      (should (otrace-connected-p))
      (should-not (memql victim (otrace-fleet-test--held-workers)))       ; its holds went with it
      (let ((new (otrace-test--wait (lambda () (cl-set-difference (otrace-fleet-test--worker-pids) before))
                                    "the new worker attached" 30)))
        (should (= (length otrace--workers) 3))
        (should (otrace-processes))
        (should (= (length new) 1)))
      (otrace-resume 'all)
      (otrace-test--wait-views 0 "every hold resumed")
      (mapc #'kill-buffer responses)
      ;; the first worker exits: the next one takes its place
      (let ((first (otrace--pid otrace--connection)))
        (signal-process first 'SIGKILL)
        (otrace-test--wait (lambda () (and (otrace-connected-p) (not (eql (otrace--pid otrace--connection) first))))
                           "the next worker to be the first")
        (should (eq otrace--connection (car otrace--workers)))
        (should (string-prefix-p "/osh" (plist-get (otrace--request 'otrace/command '(:line "pwd")) :output))))
      ;; reconnect attaches the fleet again, every worker
      (otrace-test--wait (lambda () (= (length (otrace-processes)) 3)) "three workers again" 30)
      (otrace-disconnect)
      (should-not otrace--workers)
      (execute-kbd-macro (kbd "M-x otrace-reconnect RET"))
      (otrace-test--wait (lambda () (= (length otrace--workers) 3)) "the fleet attached again"))))

(ert-deftest otrace-fleet-test-a-worker-that-does-not-answer-never-blocks-emacs ()
  "A newcomer that accepts but never answers: the poll returns at once, the try is closed."
  (otrace-fleet-test--with-fleet _app
    (otrace-fleet-test--attach)
    (cancel-timer otrace--fleet-timer)                   ; the poll is called below, by the test
    (let ((mute (make-network-process :name "otrace-test-mute" :server t :host "127.0.0.1" :service t
                                      :noquery t))   ; accepts connections, answers nothing
          (file (expand-file-name (format "otrace-%d.json" (emacs-pid)) otrace-discovery-directory)))
      (unwind-protect
          (progn
            (with-temp-file file
              (insert (json-serialize (list :pid (emacs-pid) :argv ["mute"] :cwd "/" :host "127.0.0.1"
                                            :lsp_port (process-contact mute :service) :token "none"
                                            :started (float-time) :fleet otrace--fleet))))
            (let ((start (float-time)))
              (otrace--fleet-poll)
              (should (< (- (float-time) start) 0.5)))        ; no wait for its answer
            (should (memql (emacs-pid) otrace--joining))
            (otrace--fleet-poll)                              ; being tried: not tried twice
            (should (= (cl-count (emacs-pid) otrace--joining) 1))
            (otrace-test--wait (lambda () (not (memql (emacs-pid) otrace--joining)))
                               "the try to time out" (+ otrace-sync-request-timeout 5))
            (should (= (length otrace--workers) 3))
            (should-not (cl-find-if (lambda (p) (string-prefix-p (format "otrace worker %d" (emacs-pid))
                                                                 (process-name p)))
                                    (process-list))))        ; the try was closed
        (delete-file file)
        (delete-process mute)))))

(ert-deftest otrace-fleet-test-console-addresses-the-fleet-or-one-worker ()
  "C-c C-a: fleet mode sends a line to every worker, each output led by [pid N]."
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (let ((console (otrace-console))
          (pids (otrace-fleet-test--worker-pids)))
      (switch-to-buffer console)
      (with-current-buffer console
        (execute-kbd-macro (kbd "C-c C-a fleet RET"))
        (should (equal mode-name "otrace-console[fleet]"))
        (otrace-test--wait (lambda () (otrace-test--buffer-has console "^\\[fleet\\] [^\n]*> \\'")) "the fleet prompt")
        (execute-kbd-macro (kbd "cd SPC /osh/globals RET"))
        (otrace-test--wait (lambda () (otrace-test--buffer-has console "^\\[fleet\\] globals> \\'")) "the answers")
        (dolist (pid pids)
          (should (otrace-test--buffer-has console (format "^\\[pid %d\\] " pid))))
        ;; one worker
        (execute-kbd-macro (kbd (format "C-c C-a worker SPC %d RET" (nth 1 pids))))
        (should (equal mode-name (format "otrace-console[pid %d]" (nth 1 pids))))
        (let ((end (point-max)))
          (execute-kbd-macro (kbd "pwd RET"))
          (otrace-test--wait (lambda () (save-excursion
                                          (goto-char end)
                                          (re-search-forward (format "^\\[pid %d\\] globals> \\'" (nth 1 pids)) nil t)))
                             "the worker's answer")
          (should (save-excursion (goto-char end) (re-search-forward "^/osh/globals" nil t)))   ; not led by [pid N]
          (should-not (save-excursion (goto-char end) (re-search-forward "^\\[pid [0-9]+\\] /" nil t)))))
      ;; safe mode is every worker's
      (execute-kbd-macro (kbd "M-x otrace-set-safe-mode RET y"))
      (should (cl-every (lambda (w) (eq (plist-get (otrace--info w) :safeMode) :json-false)) otrace--workers))
      (dolist (w otrace--workers)
        (should (string-match-p "False" (plist-get (otrace-with-worker w
                                                     (otrace--request 'otrace/command '(:line "set safe_mode")))
                                                   :output))))
      (execute-kbd-macro (kbd "M-x otrace-set-safe-mode RET"))
      (should (cl-every (lambda (w) (eq (plist-get (otrace--info w) :safeMode) t)) otrace--workers)))))

;;;; Browsers

(defun otrace-fleet-test--web-workers (buf)
  "The pids of the workers with a browser in BUF, the browsers buffer, each once."
  (delete-dups (mapcar (lambda (entry)
                         (and (string-match "(worker \\([0-9]+\\))\\'" (car entry))
                              (string-to-number (match-string 1 (car entry)))))
                       (buffer-local-value 'tabulated-list-entries buf))))

(ert-deftest otrace-fleet-test-browsers-of-every-worker-evaluated-in-their-worker ()
  "Every worker's browsers in one list, each with its worker; e and a monitor reach that worker's."
  (skip-unless (file-executable-p "/usr/bin/chromium"))
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (let ((tabs (make-process
                 :name "otrace-test-tabs" :buffer (generate-new-buffer " *otrace-test tabs*")
                 :connection-type 'pipe :noquery t
                 :command (list (otrace-test--python) (expand-file-name "emacs/test/web_tabs.py" otrace-test--root)
                                (format "http://127.0.0.1:%d/web" (otrace-test--app-http app))))))
      (unwind-protect
          (let ((web (otrace-web))
                (opened 0))
            (otrace-test--wait (lambda () (otrace-test--buffer-has (process-buffer tabs) "^READY"))
                               "the headless browser" 60)
            ;; the kernel picks the worker of each tab's websocket: tabs until two workers have one;
            ;; the list follows the workers' notifications
            (while (and (< opened 20) (< (length (otrace-fleet-test--web-workers web)) 2))
              (process-send-string tabs "open\n")
              (setq opened (1+ opened))
              (otrace-test--wait (lambda () (= (length (buffer-local-value 'tabulated-list-entries web)) opened))
                                 "the new browser in the list" 30))
            (should (>= (length (otrace-fleet-test--web-workers web)) 2))
            (let ((labels (mapcar #'car (buffer-local-value 'tabulated-list-entries web))))
              (should (equal (sort (copy-sequence labels) #'string<)
                             (sort (mapcar #'otrace--web-label (otrace-web-clients)) #'string<)))
              (with-current-buffer web
                (should (equal (car (aref tabulated-list-format 1)) "Worker"))
                (dolist (pid (otrace-fleet-test--web-workers web))
                  (should (otrace-test--buffer-has web (format " worker %d\\b" pid)))))
              ;; every worker names its first browser "browser": a bare name says which to choose
              (let ((err (should-error (otrace-web-eval "browser" "1") :type 'user-error)))
                (should (string-match-p "workers have a browser browser: say which, as \"browser (worker [0-9]+)\""
                                        (error-message-string err))))
              (execute-kbd-macro (kbd "M-x otrace-set-safe-mode RET y"))
              ;; e on each row: a mark of its own in that browser (a browser of another worker
              ;; evaluated instead would end up with the wrong mark)
              (switch-to-buffer web)
              (dolist (label labels)
                (goto-char (point-min))
                (while (not (equal (tabulated-list-get-id) label)) (forward-line 1))
                (execute-kbd-macro (concat "e\r" (format "window.__label = %S" label) "\r"))
                (otrace-test--wait (lambda () (otrace-test--buffer-has
                                               "*Messages*" (regexp-quote (format "%s: %S" label label))))
                                   "the evaluation's result"))
              (dolist (label labels)
                (should (equal (otrace-web-eval label "window.__label") (list :value (format "%S" label)))))
              ;; a monitor of a browser of the worker that is not the first
              (let* ((first (otrace--pid (car otrace--workers)))
                     (other (cl-find-if-not (lambda (l) (string-suffix-p (format "(worker %d)" first) l)) labels))
                     (monitor (otrace-web-monitor other "window.__label")))
                (otrace-test--wait (lambda () (otrace-test--buffer-has monitor (regexp-quote (format "%S" other))))
                                   "the monitor's value")
                (kill-buffer monitor))))
        (process-send-eof tabs)
        (otrace-test--wait (lambda () (not (process-live-p tabs))) "the browser to close" 20)
        (kill-buffer (process-buffer tabs))))))

(defun otrace-fleet-test--published-by (file)
  "The pids of the workers that published a ZeroDivisionError note of true name FILE."
  (mapcar #'car (cl-remove-if-not (lambda (entry)
                                    (cl-some (lambda (d) (string-match-p "ZeroDivisionError" (plist-get d :message)))
                                             (cdr entry)))
                                  (gethash file otrace--diagnostics))))

(defun otrace-fleet-test--one-note (app source line)
  "Raise ZeroDivisionError in every worker of APP: SOURCE shows it once, at LINE.
Requests (number=0) go until every attached worker published the
note: which worker takes a request is the kernel's choice."
  (let ((file (file-truename (buffer-file-name source))))
    (otrace-test--wait
     (lambda ()
       (let ((response (otrace-test--http-get app "/?number=0")))
         (otrace-test--wait (lambda () (otrace-fleet-test--answered-by response)) "the answer")
         (kill-buffer response))
       (accept-process-output nil 0.1)
       (cl-subsetp (otrace-fleet-test--worker-pids) (otrace-fleet-test--published-by file)))
     "every worker's note" 30)
    (otrace-test--wait (lambda () (otrace-test--flymake-note source "ZeroDivisionError")) "the note")
    (with-current-buffer source
      (let ((notes (cl-remove-if-not (lambda (d) (string-match-p "ZeroDivisionError" (flymake-diagnostic-text d)))
                                     (flymake-diagnostics))))
        (should (= (length notes) 1))
        (should (= (line-number-at-pos (flymake-diagnostic-beg (car notes))) line))))))

(defun otrace-fleet-test--live-holds-per-worker ()
  "How many live holds each attached worker has, in worker order."
  (mapcar (lambda (w)
            (cl-count-if (lambda (p) (plist-get p :liveHold))
                         (plist-get (otrace-with-worker w (otrace--request 'otrace/patches)) :patches)))
          otrace--workers))

(ert-deftest otrace-fleet-test-hold-here-live-in-every-worker-removed-from-every-worker ()
  "Hold here live once: every worker holds there (one row for it); d removes it everywhere."
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (unless (version<= "1.4" (plist-get (otrace--info otrace--connection) :protocolVersion))
      (ert-skip "the server takes no fleet orders (protocol before 1.4)"))
    (let ((source (otrace-test--demo-buffer)))
      (switch-to-buffer source)
      (goto-char (point-min))
      (forward-line (1- (otrace-test--demo-line "Request_stats\\[\"count\"\\] \\+= 1")))
      (execute-kbd-macro (kbd "C-c ~ a Hold SPC here SPC live RET"))
      (otrace-test--wait (lambda () (equal (otrace-fleet-test--live-holds-per-worker) '(1 1 1)))
                         "the live hold in every worker")
      (let ((responses (otrace-fleet-test--hold-in-workers app 5)))
        (with-current-buffer (otrace-holds)
          (switch-to-buffer (current-buffer))
          (otrace-test--wait-views (length responses) "the list")
          (let ((live (cl-remove-if-not (lambda (e) (plist-get (car e) :liveHold)) tabulated-list-entries)))
            (should (= (length live) 1))              ; the fleet's live hold: one row
            (should (equal (aref (cadr (car live)) 1) "fleet")))
          (goto-char (point-min))
          (forward-line (length responses))           ; the live hold's row, after the held requests
          (should (plist-get (tabulated-list-get-id) :liveHold))
          (execute-kbd-macro (kbd "d")))
        (otrace-test--wait (lambda () (equal (otrace-fleet-test--live-holds-per-worker) '(0 0 0)))
                           "the live hold removed from every worker")
        (otrace-resume 'all)
        (dolist (response responses)
          (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 5\\.0 is"))
                             "every held request answered")
          (kill-buffer response))))))

(declare-function dap--cur-session "dap-mode" ())
(declare-function dap--debug-session-state "dap-mode" (session))
(declare-function dap--debug-session-proc "dap-mode" (session))
(declare-function dap-breakpoint-add "dap-mode" ())
(declare-function dap-disconnect "dap-mode" (session))
(declare-function dap-breakpoint-delete-all "dap-mode" ())
(defvar dap-breakpoints-file)

(ert-deftest otrace-fleet-test-dap-breakpoint-holds-in-every-worker ()
  "A dap-mode breakpoint set through one worker (attach fleet: t) holds requests in every worker."
  (skip-unless (featurep 'dap-mode))
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (unless (version<= "1.4" (plist-get (otrace--info otrace--connection) :protocolVersion))
      (ert-skip "the server takes no fleet orders (protocol before 1.4)"))
    (let ((source (otrace-test--demo-buffer))
          (inhibit-message t)
          (dap-breakpoints-file (make-temp-file "otrace-dap-breakpoints")) ; not the user's
          session)
      (unwind-protect
          (progn
            (otrace-dap-attach (otrace--pid otrace--connection))
            (setq session (dap--cur-session))
            (otrace-test--wait (lambda () (eq (dap--debug-session-state session) 'running)) "the dap-mode session")
            (with-current-buffer source
              (goto-char (point-min))
              (forward-line (1- (otrace-test--demo-line "Request_stats\\[\"count\"\\] \\+= 1")))
              (dap-breakpoint-add))
            (otrace-test--wait (lambda () (< 0 (length (plist-get (otrace--request 'otrace/fleet) :orders))))
                               "the breakpoints order in the fleet's log")
            (sleep-for 1)                       ; every worker reads the log 4 times a second
            (let ((responses (otrace-fleet-test--hold-in-workers app 5)))
              (otrace-resume 'all)
              (dolist (response responses)
                (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 5\\.0 is"))
                                   "every held request answered")
                (kill-buffer response))))
        (when session
          (ignore-errors (dap-disconnect session))
          (otrace-test--wait (lambda () (not (process-live-p (dap--debug-session-proc session))))
                             "the dap-mode connection to close" 5))
        (dap-breakpoint-delete-all)
        (delete-file dap-breakpoints-file)))))

(ert-deftest otrace-fleet-test-traced-exceptions-of-every-worker-are-one-note ()
  "Traced in every worker (the console in fleet mode), their exceptions are one flymake note."
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (let ((source (otrace-test--demo-buffer)))
      (with-current-buffer source
        (should otrace-source-mode)
        (flymake-mode 1))
      (with-current-buffer (otrace-console)
        (switch-to-buffer (current-buffer))
        (execute-kbd-macro (kbd "C-c C-a fleet RET trace SPC GetHandler.get RET"))
        (otrace-test--wait (lambda () (cl-every (lambda (pid) (otrace-test--buffer-has
                                                               (current-buffer) (format "^\\[pid %d\\] .*GetHandler" pid)))
                                                (otrace-fleet-test--worker-pids)))
                           "every worker's answer"))
      (otrace-fleet-test--one-note app source (otrace-test--demo-line "1\\.0 / value"))
      (with-current-buffer source (flymake-mode -1)))))

(ert-deftest otrace-fleet-test-dap-attach-and-menu ()
  "dap-mode attaches a worker with fleet: t; the menu offers the fleet and remote attaches."
  (require 'otrace-dap)
  (should (where-is-internal 'otrace-attach-remote otrace-source-mode-map))
  (should (where-is-internal 'otrace-connect-fleet otrace-source-mode-map))
  (otrace-fleet-test--with-fleet _app
    (let ((pid (plist-get (car (otrace-processes)) :pid)))
      (should (eq (plist-get (otrace-dap-provide (list :type "otrace" :pid pid)) :fleet) t)))))

(ert-deftest otrace-fleet-test-trace-once-in-every-worker-later-ones-too ()
  "Trace this function once (a fleet order to one worker): every worker traces it, a new one too."
  (otrace-fleet-test--with-fleet app
    (otrace-fleet-test--attach)
    (unless (version<= "1.4" (plist-get (otrace--info otrace--connection) :protocolVersion))
      (ert-skip "the server takes no fleet orders (protocol before 1.4)"))
    (let ((source (otrace-test--demo-buffer))
          (sent nil))
      (switch-to-buffer source)             ; the keys go to the selected window's buffer
      (with-current-buffer source
        (flymake-mode 1)
        (goto-char (point-min))
        (re-search-forward "async def get")
        (forward-line 1)
        (cl-letf* ((request (symbol-function 'otrace--request))
                   ((symbol-function 'otrace--request)
                    (lambda (method &optional params cancel)
                      (when (eq method 'workspace/executeCommand) (push (otrace--connection) sent))
                      (funcall request method params cancel))))
          (execute-kbd-macro (kbd "C-c ~ a Trace SPC this TAB RET"))))
      (should (equal sent (list (car otrace--workers))))     ; sent once, to one worker
      ;; a worker started later (one killed: the demo starts another) traces it too
      (let ((victim (car (last (otrace-fleet-test--worker-pids))))
            (before (otrace-fleet-test--worker-pids)))
        (signal-process victim 'SIGKILL)
        (otrace-test--wait (lambda () (and (= (length otrace--workers) 3)
                                           (cl-set-difference (otrace-fleet-test--worker-pids) before)))
                           "the new worker attached" 30))
      (otrace-fleet-test--one-note app source (otrace-test--demo-line "1\\.0 / value"))
      (with-current-buffer source (flymake-mode -1)))))

(provide 'otrace-fleet-test)

;;; otrace-fleet-test.el ends here
